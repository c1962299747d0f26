package sqlsink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
)

// A writer whose batch stalls inside its transaction, reading a partition
// that delivers nothing (a paused replica), blocks no other writer of the
// job: another that took one of its partitions commits its batch of it at
// once. The stalled batch then fails on that partition's moved position
// (a stale range, which a stream plans again), also where its events
// collide with the other's in the key of a table an older ehstream made,
// and the table holds every event once.
func TestStalledBatchBlocksNoOtherWriter(t *testing.T) {
	for _, layout := range []struct{ name, ddl string }{
		{"table without key", ""},
		{"older table with a key", `CREATE TABLE events (eventhub TEXT NOT NULL, partition_id TEXT NOT NULL, sequence_number BIGINT NOT NULL,
			"offset" TEXT NOT NULL, enqueued_time TIMESTAMPTZ NOT NULL, partition_key TEXT, properties JSONB NOT NULL, body BYTEA NOT NULL,
			PRIMARY KEY (eventhub, partition_id, sequence_number, enqueued_time))`},
	} {
		t.Run(layout.name, func(t *testing.T) {
			spec := postgresSchema(t)
			if layout.ddl != "" {
				taker := openSink(t, spec)
				if _, err := taker.DB.Exec("DROP TABLE events; " + layout.ddl); err != nil {
					t.Fatal(err)
				}
			}
			testStalledBatch(t, spec)
		})
	}
}

func testStalledBatch(t *testing.T, spec string) {
	srv, conf, job := startHub(t, "stall", 2, 50)
	ctx := testCtx(t, 90*time.Second)
	stalled := openSink(t, withParam(t, spec, "application_name", "stalled"))
	taker := openSink(t, spec)
	if err := writeBatch(ctx, taker, conf, job, rng(job, "0", 0, 10), rng(job, "1", 0, 10)); err != nil {
		t.Fatal(err)
	}
	pause, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "stall", Partition: "1"})
	if err != nil {
		t.Fatal(err)
	}
	stalledErr := make(chan error, 1)
	go func() {
		stalledErr <- writeBatch(ctx, stalled, conf, job, rng(job, "0", 10, 50), rng(job, "1", 10, 50))
	}()
	resume := func() error {
		srv.RemoveFault(pause.ID)
		return <-stalledErr
	}
	waitForCopy(t, ctx, taker, "stalled")
	var locks int
	err = taker.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'stalled' AND l.relation = 'ehstream_offsets'::regclass`).Scan(&locks)
	if err != nil || locks != 0 {
		t.Errorf("the stalled transaction holds %d locks of the positions' table (%v); want none: an ALTER TABLE would wait for them, and every statement on the table behind it", locks, err)
	}

	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	began := time.Now()
	err = writeBatch(wctx, taker, conf, job, rng(job, "0", 10, 50))
	took := time.Since(began)
	if err != nil || took > 5*time.Second {
		resume()
		t.Fatalf("while another writer's batch stalled in its transaction, a batch of a partition taken from it took %s: %v; want a commit within 5 s", took.Round(time.Millisecond), err)
	}
	t.Logf("the taken partition's batch committed in %s while the other batch stalled", took.Round(time.Millisecond))

	var mismatch *offsets.MismatchError
	if err := resume(); !errors.As(err, &mismatch) || mismatch.StalePartition() != "0" || mismatch.Stored != 50 {
		t.Fatalf("the stalled batch, resumed: %v; want a *offsets.MismatchError of partition 0, stored at 50", err)
	}
	// As a stream would, the stalled writer plans its partition again from
	// the stored position.
	if err := writeBatch(ctx, stalled, conf, job, rng(job, "1", 10, 50)); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, taker, job, 2, 50)
}

// waitForCopy polls, through sk, until a session named application (its
// application_name) streams events by COPY, inside its batch's
// transaction.
func waitForCopy(t *testing.T, ctx context.Context, sk *sqlsink.Sink, application string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		err := sk.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active' AND xact_start IS NOT NULL AND query ILIKE 'copy%'`, application).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session of %s was copying events within 20 s", application)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A writer stopped inside its batch's transaction while it holds the
// positions' row locks (a paused process, a frozen machine) stops the
// job's other writers only until the server ends its transaction, after
// the idle time the sink bounds it to, or the --sink URL's own: not for as
// long as it stays stopped. Its batch then commits nothing, and the table
// holds every event once.
func TestStoppedWriterHoldsLocksBriefly(t *testing.T) {
	for _, c := range []struct {
		name, param, value string
		bound              time.Duration // for the server to end the stopped transaction
	}{
		{"the sink's bound", "", "", sqlsink.IdleInTransaction},
		{"the URL's own", "idle_in_transaction_session_timeout", "1500", 1500 * time.Millisecond},
		{"the URL's own in options", "options", "-c idle_in_transaction_session_timeout=1500", 1500 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := postgresSchema(t)
			if c.param != "" {
				spec = withParam(t, spec, c.param, c.value)
			}
			testStoppedWriter(t, spec, c.bound)
		})
	}
}

func testStoppedWriter(t *testing.T, spec string, bound time.Duration) {
	_, conf, job := startHub(t, "frozen", 1, 50)
	ctx := testCtx(t, 90*time.Second)
	stopped, other := openSink(t, spec), openSink(t, spec)
	if err := writeBatch(ctx, other, conf, job, rng(job, "0", 0, 10)); err != nil {
		t.Fatal(err)
	}
	held, release := sqlsink.HoldAfterPositions(t, stopped)
	stoppedErr := make(chan error, 1)
	go func() { stoppedErr <- writeBatch(ctx, stopped, conf, job, rng(job, "0", 10, 50)) }()
	select {
	case <-held:
	case err := <-stoppedErr:
		t.Fatalf("the batch to stop ended before it committed its positions: %v", err)
	case <-ctx.Done():
		t.Fatal("the batch to stop did not reach its commit")
	}

	wctx, cancel := context.WithTimeout(ctx, bound+15*time.Second)
	defer cancel()
	began := time.Now()
	err := writeBatch(wctx, other, conf, job, rng(job, "0", 10, 50))
	took := time.Since(began)
	release()
	committed := <-stoppedErr
	if err != nil || took > bound+3*time.Second {
		t.Fatalf("while another writer stood stopped holding the positions' locks, the same batch took %s: %v; want a commit within %s, once the server ended the stopped transaction",
			took.Round(time.Millisecond), err, bound+3*time.Second)
	}
	t.Logf("the batch committed %s after the other writer stopped holding the positions' locks", took.Round(time.Millisecond))
	if committed == nil {
		t.Error("the stopped writer's batch committed after the server ended its transaction")
	} else if !sqlsink.Transient(committed) {
		t.Errorf("the resumed writer's error is not transient, so that its job would end rather than plan its batch again: %v", committed)
	}
	t.Logf("the stopped writer, resumed: %v", committed)
	checkOnce(t, other, job, 1, 50)
}
