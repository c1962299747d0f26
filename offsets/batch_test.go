package offsets_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
)

// batchOutput is an output written with CommitBatch: one row per batch it
// wrote, so that a batch written twice shows.
type batchOutput struct {
	store *offsets.Store
	job   offsets.Job
	table string
}

func newBatchOutput(t *testing.T, db *sql.DB, store *offsets.Store, name string) *batchOutput {
	t.Helper()
	o := &batchOutput{store: store, job: job, table: store.Table() + "_" + name}
	o.job.Name, o.job.Output = name, o.table
	if _, err := db.ExecContext(ctx(t), "CREATE TABLE "+o.table+" (batch_ms BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE " + o.table) })
	return o
}

// write commits the batch at at with ranges; fail makes write fail after
// inserting its row. It reports whether the user's function ran.
func (o *batchOutput) write(t *testing.T, at time.Time, fail error, ranges ...eventhubs.OffsetRange) (ran bool, err error) {
	t.Helper()
	err = o.store.CommitBatch(ctx(t), o.job, offsets.Batch{Time: at, Ranges: ranges}, func(ctx context.Context, tx *sql.Tx) error {
		ran = true
		if _, err := tx.ExecContext(ctx, o.store.Dialect().Rebind("INSERT INTO "+o.table+" VALUES (?)"), at.UnixMilli()); err != nil {
			return err
		}
		return fail
	})
	return ran, err
}

// rows is how many times each batch was written.
func (o *batchOutput) rows(t *testing.T, db *sql.DB) map[int64]int {
	t.Helper()
	rows, err := db.QueryContext(ctx(t), "SELECT batch_ms, count(*) FROM "+o.table+" GROUP BY batch_ms")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var ms int64
		var n int
		if err := rows.Scan(&ms, &n); err != nil {
			t.Fatal(err)
		}
		out[ms] = n
	}
	return out
}

// Two outputs, each with its job: a batch that committed, empty or not,
// is not written again and says so (streaming.AlreadyCommitted); the next
// empty batch is written; a batch whose write failed left nothing and is
// written when run again.
func TestCommitBatchWritesEachBatchOnce(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		outs := []*batchOutput{newBatchOutput(t, db, store, "first"), newBatchOutput(t, db, store, "second")}
		t0 := time.UnixMilli(1_700_000_000_000)
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
		steps := []struct {
			batch   int
			ranges  []eventhubs.OffsetRange
			fail    error
			wantRan bool
			wantErr string // "" none, "committed": an AlreadyCommitted error, else the error's text
		}{
			{1, []eventhubs.OffsetRange{rng("0", 0, 5), rng("1", 0, 3)}, nil, true, ""},
			{1, []eventhubs.OffsetRange{rng("0", 0, 5), rng("1", 0, 3)}, nil, false, "committed"}, // replayed
			{2, []eventhubs.OffsetRange{rng("0", 5, 5), rng("1", 3, 3)}, nil, true, ""},           // empty
			{2, []eventhubs.OffsetRange{rng("0", 5, 5), rng("1", 3, 3)}, nil, false, "committed"}, // empty, replayed
			{3, []eventhubs.OffsetRange{rng("0", 5, 5), rng("1", 3, 3)}, errors.New("sink down"), true, "sink down"},
			{3, []eventhubs.OffsetRange{rng("0", 5, 5), rng("1", 3, 3)}, nil, true, ""}, // its first write rolled back
			{4, []eventhubs.OffsetRange{rng("0", 5, 9), rng("1", 3, 3)}, nil, true, ""},
			{4, []eventhubs.OffsetRange{rng("0", 5, 9), rng("1", 3, 3)}, nil, false, "committed"},
		}
		for i, s := range steps {
			for _, o := range outs {
				ran, err := o.write(t, at(s.batch), s.fail, s.ranges...)
				what := fmt.Sprintf("step %d (batch %d) output %s", i, s.batch, o.job.Name)
				if ran != s.wantRan {
					t.Fatalf("%s: the user's function ran: %v, want %v", what, ran, s.wantRan)
				}
				switch {
				case s.wantErr == "" && err != nil, s.wantErr == "committed" && !streaming.IsAlreadyCommitted(err),
					s.wantErr != "" && s.wantErr != "committed" && (err == nil || err.Error() != s.wantErr):
					t.Fatalf("%s: %v, want %s", what, err, s.wantErr)
				}
			}
		}
		for _, o := range outs {
			got := o.rows(t, db)
			for b := 1; b <= 4; b++ {
				if got[at(b).UnixMilli()] != 1 {
					t.Errorf("output %s: batch %d written %d times, want once (%v)", o.job.Name, b, got[at(b).UnixMilli()], got)
				}
			}
		}
	})
}

// A batch that read no partition has nothing to commit: the user's
// function does not run.
func TestCommitBatchWithoutRanges(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		o := newBatchOutput(t, db, store, "none")
		if ran, err := o.write(t, time.Now(), nil); ran || err != nil {
			t.Fatalf("ran %v, error %v; want neither", ran, err)
		}
	})
}

// Replicas committing their own partitions' batches at once in one SQLite
// database wait for each other: none fails with SQLITE_BUSY, which a
// transaction that reads before it writes gets at once when another
// committed in between.
func TestCommitBatchConcurrentWritersInSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/test.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := offsets.Open(ctx(t), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, batches = 4, 40
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			start := time.Unix(1700000000, 0)
			for i := range batches {
				r := eventhubs.OffsetRange{Name: job.EventHub, PartitionID: fmt.Sprint(w), FromSeqNo: int64(i), UntilSeqNo: int64(i + 1)}
				err := store.CommitBatch(ctx(t), job, offsets.Batch{Time: start.Add(time.Duration(i) * time.Second), Ranges: []eventhubs.OffsetRange{r}},
					func(ctx context.Context, tx *sql.Tx) error { return nil })
				if err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
