package offsets_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
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
		url := os.Getenv("EHSTREAM_TEST_POSTGRES")
		if url == "" {
			t.Skip("EHSTREAM_TEST_POSTGRES is not set: skipping the PostgreSQL tests (bash .ci/run sets it)")
		}
		db, err := sql.Open("pgx", url)
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

func equal(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
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
		if got := positions(t, store); !equal(got, want) {
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
		} {
			err := commit(t, db, store, tc.ranges...)
			var m *offsets.MismatchError
			if !errors.As(err, &m) || m.Partition != "1" || m.Stored != tc.stored || m.Expected != tc.expected || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: err = %v, want a MismatchError for partition 1 (stored %d, expected %d) saying %q", name, err, tc.stored, tc.expected, tc.says)
			}
			if got := positions(t, store); !equal(got, want) {
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
	want := offsets.Job{Name: "totals", Namespace: "127.0.0.1", EventHub: "orders", ConsumerGroup: "$Default"}
	if j != want {
		t.Errorf("JobFor = %+v, want %+v", j, want)
	}
	if _, err := offsets.JobFor("", conf); err == nil {
		t.Error("JobFor with an empty name succeeded")
	}
	if _, err := offsets.JobFor("x", eventhubs.NewConf("Endpoint=nope;SharedAccessKey=secret")); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("JobFor with a bad connection string: %v", err)
	}
}
