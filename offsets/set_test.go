package offsets_test

import (
	"database/sql"
	"errors"
	"maps"
	"testing"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// SetPosition creates a position or moves it anywhere, backwards too,
// keeps the output the positions remember, and CommitOffsets goes on from
// where it put it.
func TestSetPosition(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		withOutput := job
		withOutput.Output = "totals"
		tx, err := db.BeginTx(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CommitOffsets(ctx(t), tx, withOutput, []eventhubs.OffsetRange{rng("0", 0, 10)}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// Names in other case are the job's.
		upper := job
		upper.EventHub, upper.ConsumerGroup = "ORDERS", "$DEFAULT"
		if err := store.SetPosition(ctx(t), upper, "0", 4); err != nil {
			t.Fatal(err)
		}
		if err := store.SetPosition(ctx(t), job, "1", 7); err != nil {
			t.Fatal(err)
		}
		if got, want := positions(t, store), map[string]int64{"0": 4, "1": 7}; !maps.Equal(got, want) {
			t.Fatalf("positions after SetPosition: %v, want %v", got, want)
		}
		ps, err := store.Positions(ctx(t), job)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || ps[0].Job.Output != "totals" || ps[1].Job.Output != "" {
			t.Fatalf("outputs after SetPosition: %+v, want partition 0's kept and none for 1", ps)
		}
		var mismatch *offsets.MismatchError
		if err := commit(t, db, store, rng("0", 10, 12)); !errors.As(err, &mismatch) || mismatch.Stored != 4 {
			t.Fatalf("commit from the old position: %v, want a mismatch at 4", err)
		}
		if err := commit(t, db, store, rng("0", 4, 12), rng("1", 7, 8)); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			j    offsets.Job
			p    string
			next int64
		}{{offsets.Job{}, "0", 1}, {job, "", 1}, {job, "0", -1}} {
			if err := store.SetPosition(ctx(t), bad.j, bad.p, bad.next); err == nil {
				t.Errorf("SetPosition(%v, %q, %d): no error", bad.j, bad.p, bad.next)
			}
		}
	})
}
