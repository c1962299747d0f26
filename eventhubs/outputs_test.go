package eventhubs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
	_ "modernc.org/sqlite"
)

// txTable is a transactional output in SQLite: each batch's events go into
// a table of its own with the batch's positions, under its own job, in one
// transaction. A batch committed already is refused by CommitOffsets.
type txTable struct {
	db    *sql.DB
	store *offsets.Store
	job   offsets.Job
	table string
}

// openSQLite is a database in the test's directory.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "out.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newTxTable(t *testing.T, ctx context.Context, db *sql.DB, name string, conf *eventhubs.Conf) *txTable {
	t.Helper()
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	job, err := offsets.JobFor(name, conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+name+" (partition_id TEXT, seq BIGINT)"); err != nil {
		t.Fatal(err)
	}
	return &txTable{db: db, store: store, job: job, table: name}
}

// commit commits ranges and what write writes in one transaction.
func (o *txTable) commit(ctx context.Context, ranges []eventhubs.OffsetRange, write func(tx *sql.Tx) error) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := o.store.CommitOffsets(ctx, tx, o.job, ranges); err != nil {
		return err
	}
	if err := write(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// output is a ForeachRDD output that commits the batch's events.
func (o *txTable) output(ctx context.Context, rdd *eventhubs.RDD) error {
	evs, err := rdd.Collect(ctx)
	if err != nil {
		return err
	}
	return o.commit(ctx, rdd.OffsetRanges(), func(tx *sql.Tx) error {
		for _, ev := range evs {
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+o.table+" VALUES (?, ?)", ev.PartitionID, ev.SequenceNumber); err != nil {
				return err
			}
		}
		return nil
	})
}

func (o *txTable) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := o.db.QueryRow("SELECT count(*) FROM " + o.table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkOnce fails unless the table holds events [0, n) of each partition
// once each.
func (o *txTable) checkOnce(t *testing.T, partitions, n int) {
	t.Helper()
	rows, err := o.db.Query("SELECT partition_id, seq, count(*) FROM " + o.table + " GROUP BY partition_id, seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]int{}
	for rows.Next() {
		var p string
		var seq int64
		var times int
		if err := rows.Scan(&p, &seq, &times); err != nil {
			t.Fatal(err)
		}
		seen[fmt.Sprint(p, " ", seq)] = times
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var wrong []string
	for p := range partitions {
		for seq := range n {
			if k := fmt.Sprint(p, " ", seq); seen[k] != 1 {
				wrong = append(wrong, fmt.Sprintf("%s: %d times", k, seen[k]))
			}
		}
	}
	if len(wrong) > 0 {
		t.Errorf("output %s: %d events not written once, e.g. (partition seq) %v", o.table, len(wrong), wrong[:min(len(wrong), 5)])
	}
}

var errSinkDown = errors.New("sink down")

// outputsTest starts an emulator whose hub has two partitions of n events
// each, and returns a conf that reads it at rate and a database for the
// outputs.
func outputsTest(t *testing.T, hub string, n int, rate int64) (context.Context, *eventhubs.Conf, *sql.DB) {
	t.Helper()
	srv := startEmulator(t, emulator.HubConfig{Name: hub, PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, hub, "0", 0, n)
	fill(t, ctx, srv, hub, "1", 0, n)
	return ctx, testConf(srv, hub).SetMaxRatePerPartition(rate), openSQLite(t)
}

// directStream is a stream of conf on a Context of interval with opts,
// checkpointed in dir unless it is "".
func directStream(t *testing.T, interval time.Duration, opts *streaming.ContextOptions, dir string, conf *eventhubs.Conf) (*streaming.Context, *eventhubs.DirectStream) {
	t.Helper()
	ssc, err := streaming.NewContext(interval, opts)
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		store, err := streaming.NewDirStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		ssc.Checkpoint(store)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	return ssc, ds
}

// retryFew retries every failed batch, three times at most.
func retryFew(err error, attempt int) (time.Duration, bool) { return time.Millisecond, attempt < 4 }

// failingFirstRuns is an output that fails its first n runs of a batch
// with events, then runs next.
func failingFirstRuns(n int, next func(ctx context.Context, rdd *eventhubs.RDD) error) func(ctx context.Context, rdd *eventhubs.RDD) error {
	failures := 0
	return func(ctx context.Context, rdd *eventhubs.RDD) error {
		if failures < n && rdd.Count() > 0 {
			failures++
			return errSinkDown
		}
		return next(ctx, rdd)
	}
}

// A batch whose second output fails runs, when retried, only that output:
// the first committed the batch, and asked again would refuse it as a
// repeated batch at every retry.
func TestRetryRunsOnlyTheOutputsThatDidNotComplete(t *testing.T) {
	ctx, conf, db := outputsTest(t, "retry", 100, 40)
	first, second := newTxTable(t, ctx, db, "first", conf), newTxTable(t, ctx, db, "second", conf)
	ssc, ds := directStream(t, 10*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true, Retry: retryFew}, "", conf)
	ds.ForeachRDD(first.output)
	ds.ForeachRDD(failingFirstRuns(2, second.output))
	done := runSSC(t, ctx, ssc)
	waitWhileRunning(t, 30*time.Second, "both outputs to write every event", done, func() bool {
		return first.rows(t) >= 200 && second.rows(t) >= 200
	})
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	first.checkOnce(t, 2, 100)
	second.checkOnce(t, 2, 100)
}

// The same with a typed pipeline's output before a failing ForeachRDD
// output: a retry does not run the window's output again, yet feeds the
// window the batch again (the failed run's state was undone), so the
// window's counts are those of a run without failure.
func TestRetryFeedsTheWindowAgainButRunsNoCompletedOutput(t *testing.T) {
	ctx, conf, db := outputsTest(t, "retryw", 100, 30)
	windows, plain := newTxTable(t, ctx, db, "windows", conf), newTxTable(t, ctx, db, "plain", conf)
	if _, err := db.ExecContext(ctx, "CREATE TABLE counts (batch BIGINT, events BIGINT)"); err != nil {
		t.Fatal(err)
	}
	const interval = 10 * time.Millisecond
	ssc, ds := directStream(t, interval, &streaming.ContextOptions{NoBatchLog: true, Retry: retryFew}, t.TempDir(), conf)
	events, err := eventhubs.Events(ds)
	if err != nil {
		t.Fatal(err)
	}
	// Two batches, sliding every batch: each event counts in two windows.
	counts, err := streaming.CountByWindow(events, 2*interval, interval)
	if err != nil {
		t.Fatal(err)
	}
	streaming.ForeachBatch(counts, func(ctx context.Context, b *streaming.BatchData[int64]) error {
		n, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		return windows.commit(ctx, eventhubs.OffsetRangesOf(b.OffsetRanges()), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO counts VALUES (?, ?)", b.Number(), n[0])
			return err
		})
	})
	ds.ForeachRDD(failingFirstRuns(2, plain.output))
	counted := func() (total, batches int64) {
		if err := db.QueryRow("SELECT coalesce(sum(events), 0), count(*) FROM counts").Scan(&total, &batches); err != nil {
			t.Fatal(err)
		}
		return total, batches
	}
	done := runSSC(t, ctx, ssc)
	waitWhileRunning(t, 30*time.Second, "every event written and counted in two windows", done, func() bool {
		total, _ := counted()
		return plain.rows(t) >= 200 && total >= 2*200
	})
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	plain.checkOnce(t, 2, 100)
	if total, batches := counted(); total != 2*200 {
		t.Errorf("the windows counted %d events in %d batches, want 400: every event twice", total, batches)
	}
}

// A replay after a crash judges each output on its own: the first output
// had committed the batch before the crash (and says so), the second had
// not, and still gets the batch.
func TestReplayRunsTheOutputsThatHadNotCommitted(t *testing.T) {
	ctx, conf, db := outputsTest(t, "replay2", 60, 30)
	first, second := newTxTable(t, ctx, db, "first", conf), newTxTable(t, ctx, db, "second", conf)
	dir := t.TempDir()
	run := func(secondFails bool) (*streaming.Context, <-chan error) {
		ssc, ds := directStream(t, 10*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true}, dir, conf)
		ds.ForeachRDD(first.output)
		crashes := 0
		if secondFails {
			crashes = 1
		}
		ds.ForeachRDD(failingFirstRuns(crashes, second.output))
		return ssc, runSSC(t, ctx, ssc)
	}
	_, done := run(true)
	if err := waitRun(t, done); !errors.Is(err, errSinkDown) {
		t.Fatalf("the first run ended with %v, want the second output's error", err)
	}
	if n := first.rows(t); n != 60 {
		t.Fatalf("the first output wrote %d events before the crash, want the first batch's 60", n)
	}
	ssc, done := run(false)
	// The second output runs after the first in each batch: once the first
	// wrote every event, the batch that finishes has the second write them.
	waitWhileRunning(t, 30*time.Second, "the first output to write every event", done, func() bool { return first.rows(t) >= 120 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	first.checkOnce(t, 2, 60)
	second.checkOnce(t, 2, 60)
}

// batchRows is an output of window counts written with
// offsets.CommitBatch: a row per batch it wrote, with the window's count,
// so that a batch written twice shows.
func batchRows(t *testing.T, ctx context.Context, db *sql.DB, name string, conf *eventhubs.Conf) func(ctx context.Context, b *streaming.BatchData[int64]) error {
	t.Helper()
	o := newTxTable(t, ctx, db, name, conf) // its store and job
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+name+"_batches (batch_ms BIGINT, events BIGINT)"); err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, b *streaming.BatchData[int64]) error {
		n, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		return o.store.CommitBatch(ctx, o.job, offsets.BatchOf(b), func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO "+name+"_batches VALUES (?, ?)", b.Time().UnixMilli(), n[0])
			return err
		})
	}
}

// emptyRanges reports whether the batch read nothing.
func emptyRanges(ranges []streaming.Range) bool {
	for _, r := range ranges {
		if r.Count() > 0 {
			return false
		}
	}
	return true
}

// A window's two outputs, each written with CommitBatch. A crash in a
// batch that read nothing (a window's, checkpointed and replayed) after
// the first output committed it: the replay writes it with the second
// output only, with no replay logic in the outputs. Then each output holds
// every batch once, and every event in two windows.
func TestCommitBatchReplaysAnEmptyBatchOnce(t *testing.T) {
	ctx, conf, db := outputsTest(t, "replayempty", 30, 100)
	dir := t.TempDir()
	first, second := batchRows(t, ctx, db, "first", conf), batchRows(t, ctx, db, "second", conf)
	const interval = 10 * time.Millisecond
	crashed := false
	run := func(crash bool) (*streaming.Context, <-chan error) {
		ssc, ds := directStream(t, interval, &streaming.ContextOptions{NoBatchLog: true}, dir, conf)
		events, err := eventhubs.Events(ds)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := streaming.CountByWindow(events, 2*interval, interval)
		if err != nil {
			t.Fatal(err)
		}
		streaming.ForeachBatch(counts, first)
		streaming.ForeachBatch(counts, func(ctx context.Context, b *streaming.BatchData[int64]) error {
			if crash && !crashed && b.Number() > 3 && emptyRanges(b.OffsetRanges()) {
				crashed = true
				return errSinkDown // the first output committed this empty batch
			}
			return second(ctx, b)
		})
		return ssc, runSSC(t, ctx, ssc)
	}
	_, done := run(true)
	if err := waitRun(t, done); !errors.Is(err, errSinkDown) {
		t.Fatalf("the first run ended with %v, want the second output's error", err)
	}
	batches := func(table string) (rows, distinct, events int64) {
		if err := db.QueryRow("SELECT count(*), count(DISTINCT batch_ms), coalesce(sum(events), 0) FROM "+table+"_batches").Scan(&rows, &distinct, &events); err != nil {
			t.Fatal(err)
		}
		return rows, distinct, events
	}
	firstBefore, _, _ := batches("first")
	ssc, done := run(false)
	waitWhileRunning(t, 30*time.Second, "three batches after the replay", done, func() bool {
		n, _, _ := batches("first")
		return n >= firstBefore+3
	})
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"first", "second"} {
		if rows, distinct, events := batches(table); rows != distinct || events != 2*60 {
			t.Errorf("output %s: %d rows of %d batches, %d events counted; want a row per batch and every event in two windows (120)", table, rows, distinct, events)
		}
	}
	var both, firstRows, secondRows int
	if err := db.QueryRow("SELECT (SELECT count(*) FROM first_batches f JOIN second_batches s ON f.batch_ms = s.batch_ms), (SELECT count(*) FROM first_batches), (SELECT count(*) FROM second_batches)").Scan(&both, &firstRows, &secondRows); err != nil {
		t.Fatal(err)
	}
	if both != firstRows || both != secondRows {
		t.Errorf("the outputs wrote %d and %d batches, %d of them the same: want the same batches", firstRows, secondRows, both)
	}
}

// A window's stream whose checkpoint was deleted, with its job's positions
// stored (SetStoredPositions): it starts from the stored positions, with a
// message, instead of reading the hub from its start, which the output
// refuses as a repeated batch at every restart.
func TestDeletedCheckpointResumesFromTheStoredPositions(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "lostcheckpoint", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	conf, db := testConf(srv, "lostcheckpoint").SetMaxRatePerPartition(100), openSQLite(t)
	out := newTxTable(t, ctx, db, "windows", conf)
	const interval = 10 * time.Millisecond
	var firstMu sync.Mutex
	var first *streaming.BatchInfo // the run's first batch that completed
	run := func(dir string) (*streaming.Context, <-chan error) {
		ssc, ds := directStream(t, interval, &streaming.ContextOptions{NoBatchLog: true}, dir, conf)
		ds.SetStoredPositions(out.store.StoredPositions(out.job))
		events, err := eventhubs.Events(ds)
		if err != nil {
			t.Fatal(err)
		}
		windowed, err := streaming.Window(events, 2*interval, interval)
		if err != nil {
			t.Fatal(err)
		}
		// The window's newest batch: each event once.
		streaming.ForeachBatch(windowed, func(ctx context.Context, b *streaming.BatchData[*eventhubs.Event]) error {
			evs, err := b.Collect(ctx)
			if err != nil {
				return err
			}
			ranges := eventhubs.OffsetRangesOf(b.OffsetRanges())
			return out.store.CommitBatch(ctx, out.job, offsets.BatchOf(b), func(ctx context.Context, tx *sql.Tx) error {
				for _, ev := range evs {
					if in(ranges, ev) {
						if _, err := tx.ExecContext(ctx, "INSERT INTO windows VALUES (?, ?)", ev.PartitionID, ev.SequenceNumber); err != nil {
							return err
						}
					}
				}
				return nil
			})
		})
		ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
			firstMu.Lock()
			defer firstMu.Unlock()
			if first == nil {
				first = &b
			}
		}))
		return ssc, runSSC(t, ctx, ssc)
	}
	for round, dir := range []string{t.TempDir(), t.TempDir()} { // the second run's checkpoint is new
		for _, p := range []string{"0", "1"} {
			fill(t, ctx, srv, "lostcheckpoint", p, 30*round, 30)
		}
		firstMu.Lock()
		first = nil
		firstMu.Unlock()
		ssc, done := run(dir)
		want := 60 * (round + 1)
		waitWhileRunning(t, 30*time.Second, fmt.Sprintf("run %d to write %d events", round+1, want), done, func() bool { return out.rows(t) >= want })
		ssc.Stop(true)
		if err := waitRun(t, done); err != nil {
			t.Fatalf("run %d: %v", round+1, err)
		}
	}
	firstMu.Lock()
	defer firstMu.Unlock()
	if first.Number != 1 || len(first.Ranges) != 2 || first.Ranges[0].From != 30 || first.Ranges[1].From != 30 {
		t.Errorf("the second run's first batch that completed: number %d, ranges %v; want batch 1 from the stored positions (30), none abandoned", first.Number, first.Ranges)
	}
	out.checkOnce(t, 2, 60)
}

// in reports whether ev lies in one of ranges.
func in(ranges []eventhubs.OffsetRange, ev *eventhubs.Event) bool {
	for _, r := range ranges {
		if r.PartitionID == ev.PartitionID && ev.SequenceNumber >= r.FromSeqNo && ev.SequenceNumber < r.UntilSeqNo {
			return true
		}
	}
	return false
}
