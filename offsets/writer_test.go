package offsets_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// commitAs runs CommitOffsets for j in a transaction of its own.
func commitAs(ctx context.Context, db *sql.DB, store *offsets.Store, j offsets.Job, ranges ...eventhubs.OffsetRange) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := store.CommitOffsets(ctx, tx, j, ranges); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// A second job writing a hub into the output another job writes it to is
// refused at its start and at its first commit, naming the other job; the
// same job, another hub and another output go on.
func TestOneWriterPerOutput(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		first := job
		first.Output = "archive"
		if err := commitAs(ctx(t), db, store, first, rng("0", 0, 5)); err != nil {
			t.Fatal(err)
		}
		second := first
		second.Name = "totals_v2"
		var conflict *offsets.ConflictError
		if _, err := store.LoadPositions(ctx(t), second); !errors.As(err, &conflict) || conflict.Writer == nil || conflict.Writer.Name != "totals" ||
			!strings.Contains(err.Error(), "written by another job") {
			t.Errorf("LoadPositions of a second job into the output: %v, want a ConflictError naming job totals", err)
		}
		if err := commitAs(ctx(t), db, store, second, rng("0", 0, 3)); !errors.As(err, &conflict) || conflict.Writer == nil || conflict.Writer.Name != "totals" {
			t.Errorf("CommitOffsets of a second job into the output: %v, want a ConflictError naming job totals", err)
		}
		// The output's name in other case is the same table.
		upper := second
		upper.Output = "ARCHIVE"
		if _, err := store.LoadPositions(ctx(t), upper); !errors.As(err, &conflict) {
			t.Errorf("LoadPositions of a second job into the output spelled ARCHIVE: %v, want a ConflictError", err)
		}

		otherHub := second
		otherHub.EventHub = "payments"
		if err := commitAs(ctx(t), db, store, otherHub, eventhubs.OffsetRange{Name: "payments", PartitionID: "0", UntilSeqNo: 4}); err != nil {
			t.Errorf("another hub into the same output: %v", err)
		}
		otherOutput := second
		otherOutput.Output = "archive_v2"
		if _, err := store.LoadPositions(ctx(t), otherOutput); err != nil {
			t.Errorf("LoadPositions of a job into another output: %v", err)
		}
		if err := commitAs(ctx(t), db, store, otherOutput, rng("0", 0, 3)); err != nil {
			t.Errorf("another output: %v", err)
		}
		if err := commitAs(ctx(t), db, store, first, rng("0", 5, 9)); err != nil {
			t.Errorf("the first job's next batch: %v", err)
		}
	})
}

// A job whose positions name no output yet (set by a checkpoint store's
// SetCheckpoint) is refused, naming the other job, when its first commit
// would record an output another job writes the hub into.
func TestOneWriterPerOutputWhenRecordingTheOutput(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		first := job
		if err := store.SetPosition(ctx(t), first, "0", 5); err != nil {
			t.Fatal(err)
		}
		other := job
		other.Name, other.Output = "archiver", "archive"
		if err := commitAs(ctx(t), db, store, other, rng("0", 0, 3)); err != nil {
			t.Fatal(err)
		}
		first.Output = "archive"
		var conflict *offsets.ConflictError
		if err := commitAs(ctx(t), db, store, first, rng("0", 5, 7)); !errors.As(err, &conflict) || conflict.Writer == nil || conflict.Writer.Name != "archiver" {
			t.Errorf("CommitOffsets recording an output another job writes: %v, want a ConflictError naming job archiver", err)
		}
	})
}

// Two new jobs into one output whose first batches commit at once: one
// commits, the other is refused naming it, whichever comes second.
func TestOneWriterPerOutputRace(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		a, b := job, job
		a.Output, b.Output = "archive", "archive"
		a.Name, b.Name = "job_a", "job_b"
		for _, j := range []offsets.Job{a, b} {
			if _, err := store.LoadPositions(ctx(t), j); err != nil {
				t.Fatalf("LoadPositions of %s before either commits: %v", j.Name, err)
			}
		}
		tx1, err := db.BeginTx(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CommitOffsets(ctx(t), tx1, a, []eventhubs.OffsetRange{rng("0", 0, 10)}); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() { second <- commitAs(context.Background(), db, store, b, rng("0", 0, 10)) }()
		if err := tx1.Commit(); err != nil {
			t.Fatalf("job_a's commit: %v", err)
		}
		select {
		case err := <-second:
			var conflict *offsets.ConflictError
			if !errors.As(err, &conflict) || conflict.Writer == nil || conflict.Writer.Name != "job_a" {
				t.Fatalf("job_b's first batch: %v, want a ConflictError naming job_a", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("job_b's first batch neither committed nor failed")
		}
	})
}

// A table where two jobs write one output already (an older ehstream let
// them) opens: those jobs are refused with the other named, others go on.
func TestOpenWithTwoWritersOfAnOutput(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if _, err := db.ExecContext(ctx(t), `INSERT INTO `+store.Table()+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output)
			VALUES ('job_a', 'ns.servicebus.windows.net', 'orders', '$default', '0', 5, 1, 'archive'),
			('job_b', 'ns.servicebus.windows.net', 'orders', '$default', '0', 7, 1, 'archive')`); err != nil {
			// The index refuses the second row: drop it, as a table of an
			// older ehstream lacks it.
			if _, err := db.ExecContext(ctx(t), `DROP INDEX `+store.Table()+`_one_writer`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx(t), `INSERT INTO `+store.Table()+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output)
			VALUES ('job_a', 'ns.servicebus.windows.net', 'orders', '$default', '0', 5, 1, 'archive'),
			('job_b', 'ns.servicebus.windows.net', 'orders', '$default', '0', 7, 1, 'archive')`); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Fatal("the positions table took two jobs writing one output")
		}
		reopened, err := offsets.Open(ctx(t), db, &offsets.Options{Table: store.Table()})
		if err != nil {
			t.Fatalf("Open with two writers of an output: %v", err)
		}
		a := job
		a.Name, a.Output = "job_a", "archive"
		var conflict *offsets.ConflictError
		if _, err := reopened.LoadPositions(ctx(t), a); !errors.As(err, &conflict) || conflict.Writer == nil || conflict.Writer.Name != "job_b" {
			t.Errorf("LoadPositions of job_a: %v, want a ConflictError naming job_b", err)
		}
		// Once one is gone, the next Open makes the index.
		if _, err := db.ExecContext(ctx(t), `DELETE FROM `+store.Table()+` WHERE job = 'job_b'`); err != nil {
			t.Fatal(err)
		}
		if _, err := offsets.Open(ctx(t), db, &offsets.Options{Table: store.Table()}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx(t), `INSERT INTO `+store.Table()+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output)
			VALUES ('job_c', 'ns.servicebus.windows.net', 'orders', '$default', '0', 1, 1, 'archive')`); err == nil {
			t.Error("after the next Open, the positions table still took a second writer of the output")
		}
	})
}
