package offsets_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/pgtest"
	"github.com/ehstream/ehstream/offsets"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// databases runs fn against a fresh table in SQLite and, when
// EHSTREAM_TEST_POSTGRES holds a URL, in PostgreSQL.
func databases(t *testing.T, fn func(t *testing.T, db *sql.DB, store *offsets.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "test.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db, open(t, db))
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sql.Open("pgx", pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db, open(t, db))
	})
}

// open makes a store on a table of its own, dropped after the test.
func open(t *testing.T, db *sql.DB) *offsets.Store {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	table := "offsets_test_" + hex.EncodeToString(b)
	store, err := offsets.Open(ctx(t), db, &offsets.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	return store
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var job = offsets.Job{Name: "totals", Namespace: "ns.servicebus.windows.net", EventHub: "orders", ConsumerGroup: "$Default"}

func rng(p string, from, until int64) eventhubs.OffsetRange {
	return eventhubs.OffsetRange{Name: "orders", PartitionID: p, FromSeqNo: from, UntilSeqNo: until}
}

// commit runs CommitOffsets in a transaction of its own, committing it on
// success and rolling back otherwise.
func commit(t *testing.T, db *sql.DB, store *offsets.Store, ranges ...eventhubs.OffsetRange) error {
	t.Helper()
	tx, err := db.BeginTx(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CommitOffsets(ctx(t), tx, job, ranges); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func positions(t *testing.T, store *offsets.Store) map[string]int64 {
	t.Helper()
	ps, err := store.LoadPositions(ctx(t), job)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for p, pos := range ps {
		if pos.Kind() != eventhubs.PositionSequenceNumber || !pos.Inclusive() {
			t.Fatalf("partition %s: position %s, want an inclusive sequence number", p, pos)
		}
		out[p] = pos.SequenceNumber()
	}
	return out
}

// Contiguous batches commit; a replayed one and one after a gap are refused
// and leave the positions as they were, for every partition of the batch.
func TestCommitOffsets(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if got := positions(t, store); len(got) != 0 {
			t.Fatalf("positions of a new job: %v", got)
		}
		if err := commit(t, db, store, rng("0", 5, 10), rng("1", 0, 0)); err != nil {
			t.Fatalf("first batch: %v", err)
		}
		if err := commit(t, db, store, rng("0", 10, 20), rng("1", 0, 7)); err != nil {
			t.Fatalf("second batch: %v", err)
		}
		want := map[string]int64{"0": 20, "1": 7}
		if got := positions(t, store); !maps.Equal(got, want) {
			t.Fatalf("positions %v, want %v", got, want)
		}

		for name, tc := range map[string]struct {
			ranges   []eventhubs.OffsetRange
			stored   int64
			expected int64
			says     string
		}{
			"replay": {[]eventhubs.OffsetRange{rng("0", 20, 25), rng("1", 0, 7)}, 7, 0, "repeated batch"},
			"gap":    {[]eventhubs.OffsetRange{rng("0", 20, 25), rng("1", 9, 12)}, 7, 9, "a gap: events [7, 9)"},
			// Each names the cure for a stream that did not start from
			// the stored positions (its checkpoint deleted, say).
			"replay, the cure": {[]eventhubs.OffsetRange{rng("0", 20, 25), rng("1", 0, 7)}, 7, 0, "start the stream from the stored positions (Store.Resume"},
			"gap, the cure":    {[]eventhubs.OffsetRange{rng("0", 20, 25), rng("1", 9, 12)}, 7, 9, "SetStoredPositions(store.StoredPositions(job))"},
		} {
			err := commit(t, db, store, tc.ranges...)
			var m *offsets.MismatchError
			if !errors.As(err, &m) || m.Partition != "1" || m.Stored != tc.stored || m.Expected != tc.expected || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: err = %v, want a MismatchError for partition 1 (stored %d, expected %d) saying %q", name, err, tc.stored, tc.expected, tc.says)
			}
			if got := positions(t, store); !maps.Equal(got, want) {
				t.Errorf("%s: positions after the rollback %v, want %v (partition 0's move must roll back too)", name, got, want)
			}
		}
	})
}

// Two writers commit the same range of the same job at once: one wins.
func TestCommitOffsetsConcurrentWriters(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if err := commit(t, db, store, rng("0", 0, 10)); err != nil {
			t.Fatal(err)
		}
		tx1, err := db.BeginTx(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CommitOffsets(ctx(t), tx1, job, []eventhubs.OffsetRange{rng("0", 10, 20)}); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() {
			tx2, err := db.BeginTx(context.Background(), nil)
			if err != nil {
				second <- err
				return
			}
			if err := store.CommitOffsets(context.Background(), tx2, job, []eventhubs.OffsetRange{rng("0", 10, 20)}); err != nil {
				tx2.Rollback()
				second <- err
				return
			}
			second <- tx2.Commit()
		}()
		// The second writer is blocked (PostgreSQL), waiting out a busy
		// lock (SQLite), or already refused; either way the first commits.
		if err := tx1.Commit(); err != nil {
			t.Fatalf("first writer: %v", err)
		}
		select {
		case err := <-second:
			if err == nil {
				t.Fatal("both writers committed the range [10, 20)")
			}
			t.Logf("second writer refused: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("the second writer neither committed nor failed")
		}
		if got := positions(t, store); got["0"] != 20 {
			t.Errorf("position %d, want 20", got["0"])
		}
	})
}

func TestCommitOffsetsBadInput(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		for name, ranges := range map[string][]eventhubs.OffsetRange{
			"other hub":    {{Name: "payments", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}},
			"duplicate":    {rng("0", 0, 1), rng("0", 1, 2)},
			"backwards":    {rng("0", 5, 1)},
			"no partition": {rng("", 0, 1)},
		} {
			if err := commit(t, db, store, ranges...); err == nil {
				t.Errorf("%s: committed", name)
			} else {
				t.Logf("%s: %v", name, err)
			}
		}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := store.CommitOffsets(ctx(t), tx, offsets.Job{Name: "x"}, []eventhubs.OffsetRange{rng("0", 0, 1)}); err == nil || !strings.Contains(err.Error(), "namespace") {
			t.Errorf("a job without namespace: err = %v", err)
		}
	})
}

func TestOpenBadOptions(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, o := range []offsets.Options{{Table: "x; DROP TABLE y"}, {Table: "1abc"}, {Dialect: "oracle"}} {
		if _, err := offsets.Open(ctx(t), db, &o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		} else {
			t.Logf("%+v: %v", o, err)
		}
	}
	s, err := offsets.Open(ctx(t), db, nil)
	if err != nil || s.Dialect() != offsets.SQLite || s.Table() != offsets.DefaultTable {
		t.Fatalf("Open with defaults = %v, %v", s, err)
	}
}

func TestJobFor(t *testing.T) {
	conf := eventhubs.NewConf("Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=secret;UseDevelopmentEmulator=true;EntityPath=orders")
	j, err := offsets.JobFor("totals", conf)
	if err != nil {
		t.Fatal(err)
	}
	want := offsets.Job{Name: "totals", Namespace: "127.0.0.1", EventHub: "orders", ConsumerGroup: "$default"}
	if j != want {
		t.Errorf("JobFor = %+v, want %+v", j, want)
	}
	// Event Hubs names are not case-sensitive: the job is the same however
	// they are spelled.
	other, err := offsets.JobFor("totals", eventhubs.NewConf("Endpoint=sb://LocalHost:5672;SharedAccessKeyName=k;SharedAccessKey=secret;UseDevelopmentEmulator=true;EntityPath=ORDERS").SetConsumerGroup("$DEFAULT"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (offsets.Job{Name: "totals", Namespace: "localhost", EventHub: "orders", ConsumerGroup: "$default"}); other != want {
		t.Errorf("JobFor with names in upper case = %+v, want %+v", other, want)
	}
	if _, err := offsets.JobFor("", conf); err == nil {
		t.Error("JobFor with an empty name succeeded")
	}
	if _, err := offsets.JobFor("x", eventhubs.NewConf("Endpoint=nope;SharedAccessKey=secret")); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("JobFor with a bad connection string: %v", err)
	}
}

// A table an older ehstream made: no output column, and names kept as
// typed. Open upgrades it; the job finds its positions however its names
// are spelled, and one position stored under two spellings is refused
// with what to do unless both agree.
func TestOpenUpgradesOlderTable(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, _ *offsets.Store) {
		b := make([]byte, 6)
		rand.Read(b)
		table := "legacy_" + hex.EncodeToString(b)
		t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
		exec := func(q string) {
			t.Helper()
			if _, err := db.ExecContext(ctx(t), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`CREATE TABLE ` + table + ` (job TEXT NOT NULL, namespace TEXT NOT NULL, eventhub TEXT NOT NULL, consumer_group TEXT NOT NULL,
			partition_id TEXT NOT NULL, next_seq BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
			PRIMARY KEY (job, namespace, eventhub, consumer_group, partition_id))`)
		exec(`INSERT INTO ` + table + ` VALUES ('totals', 'NS.servicebus.windows.net', 'Orders', '$Default', '0', 40, 1),
			('totals', 'ns.servicebus.windows.net', 'orders', '$default', '1', 7, 1),
			('totals', 'NS.servicebus.windows.net', 'ORDERS', '$Default', '1', 7, 1)`)
		store, err := offsets.Open(ctx(t), db, &offsets.Options{Table: table})
		if err != nil {
			t.Fatal(err)
		}
		upper := offsets.Job{Name: "totals", Namespace: "NS.servicebus.windows.net", EventHub: "ORDERS", ConsumerGroup: "$DEFAULT", Output: "totals_table"}
		ps, err := store.LoadPositions(ctx(t), upper)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || ps["0"].SequenceNumber() != 40 || ps["1"].SequenceNumber() != 7 {
			t.Fatalf("positions after the upgrade: %v, want 0 at 40 and 1 at 7", ps)
		}
		// The first commit records the output; another output is refused.
		tx, _ := db.BeginTx(ctx(t), nil)
		if err := store.CommitOffsets(ctx(t), tx, upper, []eventhubs.OffsetRange{rng("0", 40, 45)}); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
		other := upper
		other.Output = "another_table"
		var conflict *offsets.ConflictError
		if _, err := store.LoadPositions(ctx(t), other); !errors.As(err, &conflict) || !strings.Contains(err.Error(), `"totals_table"`) {
			t.Errorf("LoadPositions for another output: %v, want a ConflictError naming totals_table", err)
		}
		tx, _ = db.BeginTx(ctx(t), nil)
		if err := store.CommitOffsets(ctx(t), tx, other, []eventhubs.OffsetRange{rng("0", 45, 46)}); !errors.As(err, &conflict) {
			t.Errorf("CommitOffsets for another output: %v, want a ConflictError", err)
		}
		tx.Rollback()

		// Two spellings that disagree: that job is refused with the rows to
		// choose from; other jobs go on.
		exec(`INSERT INTO ` + table + ` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms) VALUES ('totals', 'ns.servicebus.windows.net', 'Orders', '$default', '1', 9, 1),
			('other', 'NS.servicebus.windows.net', 'Orders', '$default', '0', 3, 1)`)
		store, err = offsets.Open(ctx(t), db, &offsets.Options{Table: table})
		if err != nil {
			t.Fatalf("Open with two positions of one job's partition: %v", err)
		}
		if _, err := store.LoadPositions(ctx(t), upper); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "differ only in case") || !strings.Contains(err.Error(), "next 9") {
			t.Errorf("LoadPositions with two positions of one partition: %v, want the conflict explained", err)
		}
		otherJob := upper
		otherJob.Name, otherJob.Output = "other", "other_table"
		if ps, err := store.LoadPositions(ctx(t), otherJob); err != nil || ps["0"].SequenceNumber() != 3 {
			t.Errorf("another job of the table: %v, %v; want its position 3", ps, err)
		}
	})
}

// A consumer group other than the one a job's positions were stored for
// is refused: reading the hub again through it would write every event
// a second time.
func TestLoadPositionsOfAnotherGroup(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if err := commit(t, db, store, rng("0", 0, 5)); err != nil {
			t.Fatal(err)
		}
		other := job
		other.ConsumerGroup = "audit"
		var conflict *offsets.ConflictError
		if _, err := store.LoadPositions(ctx(t), other); !errors.As(err, &conflict) || !strings.Contains(err.Error(), `"$default"`) {
			t.Errorf("LoadPositions for another group: %v, want a ConflictError naming $default", err)
		}
		same := job
		same.ConsumerGroup = "$DEFAULT"
		if ps, err := store.LoadPositions(ctx(t), same); err != nil || len(ps) != 1 {
			t.Errorf("LoadPositions for the group in other case: %v, %v", ps, err)
		}
	})
}

// After the hub's numbering restarted, a range with ResetFrom moves the
// position from where it stood; a replay of it is refused as any other.
func TestCommitOffsetsReset(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if err := commit(t, db, store, rng("0", 0, 100)); err != nil {
			t.Fatal(err)
		}
		reset := eventhubs.OffsetRange{Name: "orders", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 30, ResetFrom: 100}
		if err := commit(t, db, store, reset); err != nil {
			t.Fatalf("the reset range: %v", err)
		}
		if got := positions(t, store); got["0"] != 30 {
			t.Errorf("position after the reset: %d, want 30", got["0"])
		}
		var mismatch *offsets.MismatchError
		if err := commit(t, db, store, reset); !errors.As(err, &mismatch) || mismatch.Expected != 100 {
			t.Errorf("the reset range again: %v, want a MismatchError expecting 100", err)
		}
		if err := commit(t, db, store, rng("0", 30, 40)); err != nil {
			t.Errorf("the range after the reset: %v", err)
		}
	})
}
