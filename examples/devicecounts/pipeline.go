package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

// schema is the results' tables. window_start is the minute's start in
// RFC 3339, UTC: the same text in SQLite and PostgreSQL, in time order.
const schema = `CREATE TABLE IF NOT EXISTS device_counts (
	window_start TEXT   NOT NULL,
	device       TEXT   NOT NULL,
	events       BIGINT NOT NULL,
	late         BIGINT NOT NULL,
	PRIMARY KEY (window_start, device));
CREATE TABLE IF NOT EXISTS device_bad_events (device TEXT PRIMARY KEY, events BIGINT NOT NULL)`

// countRow is what a batch adds to the tables: a count of a (minute,
// device), late items of one, or events without a readable time.
type countRow struct {
	Minute, Device    string
	Events, Late, Bad int64
}

// stream runs the job until a signal (or, with -until-idle, until the hub
// has nothing more), printing a line per batch that read events.
func stream(ctx context.Context, db *sql.DB, o options, out io.Writer) error {
	if err := createSchema(ctx, db); err != nil {
		return err
	}
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	conf := eventhubs.NewConf(o.connStr).SetMaxRatePerPartition(o.rate)
	job, err := offsets.JobFor(o.job, conf)
	if err != nil {
		return err
	}
	shared, closeShared, err := openOwnership(ctx, o, job)
	if err != nil {
		return err
	}
	defer closeShared()
	// Resume stores where a first run starts, so that replicas gaining a
	// partition later start where the job did.
	resumed, err := store.Resume(ctx, job, conf)
	if err != nil {
		return err
	}
	job = resumed.Job
	ssc, err := streaming.NewContext(o.interval, &streaming.ContextOptions{NoBatchLog: true, Retry: sqlsink.RetryBatch})
	if err != nil {
		return fmt.Errorf("-batch-interval %s: %w", o.interval, err)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return err
	}
	written := &writtenLog{byBatch: map[int64]batchWrites{}}
	if err := countByMinute(ctx, ds, store, job, o.lateness, written); err != nil {
		return err
	}
	if err := place(ds, shared, store, job, o); err != nil {
		return err
	}
	ssc.AddListener(batchPrinter(ssc, out, written, o.untilIdle))
	// SIGINT or SIGTERM: the running batch finishes and commits; a second
	// one stops at once.
	return ssc.RunUntilSignal(ctx)
}

// createSchema creates the tables. Replicas starting at once race to
// create them, and in PostgreSQL the loser's CREATE TABLE IF NOT EXISTS
// fails: it tries again, and finds them.
func createSchema(ctx context.Context, db *sql.DB) error {
	for _, ddl := range strings.Split(schema, ";") {
		var err error
		for range 3 {
			if _, err = db.ExecContext(ctx, ddl); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("creating the tables: %w", err)
		}
	}
	return nil
}

// openOwnership opens -ownership's store, if given.
func openOwnership(ctx context.Context, o options, job offsets.Job) (azeventhubs.CheckpointStore, func(), error) {
	if o.ownership == "" {
		return nil, func() {}, nil
	}
	store, closer, err := ownership.Open(ctx, o.ownership, job.Name, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("-ownership: %w", err)
	}
	return store, func() { closer.Close() }, nil
}

// place says which partitions the stream reads and where each starts:
// without -ownership every partition, from the stored positions; with it,
// those this replica owns, each from its stored position when gained.
func place(ds *eventhubs.DirectStream, shared azeventhubs.CheckpointStore, store *offsets.Store, job offsets.Job, o options) error {
	if shared == nil {
		// A batch whose positions moved under it (a killed run's late
		// commit) is planned again from the stored positions.
		ds.SetStoredPositions(store.StoredPositions(job))
		return nil
	}
	opts := &eventhubs.OwnershipOptions{
		OwnerID:        o.ownerID,
		UpdateInterval: o.ownershipInterval,
		Expiration:     o.ownershipExpiration,
		Positions:      store.StoredPositions(job),
	}
	if host, err := ds.Conf().NamespaceHost(); err == nil && !strings.EqualFold(host, job.Namespace) {
		// The positions are stored under another name of the namespace
		// (Resume found them): the ownership records go under it too.
		opts.Namespace = job.Namespace
	}
	return ds.SetOwnershipStore(shared, opts)
}

// countByMinute makes the pipeline: events to readings; those with a time
// counted per minute and device in their partition, each (minute, device)
// emitted once when its partition's watermark passes the minute's end;
// the windows, the late items and the readings without a time made rows
// of one type, and written in one transaction with the batch's positions
// and the windows' state.
func countByMinute(ctx context.Context, ds *eventhubs.DirectStream, store *offsets.Store, job offsets.Job, lateness time.Duration, written *writtenLog) error {
	events, err := eventhubs.Events(ds)
	if err != nil {
		return err
	}
	readings := streaming.Map(events, readingOf)
	timed := streaming.Filter(readings, func(r reading) bool { return r.Bad == "" })
	windows, err := streaming.ReduceByKeyAndEventTimeWindow(timed,
		func(r reading) time.Time { return r.Time },
		func(r reading) streaming.KV[string, int64] {
			return streaming.KV[string, int64]{Key: r.Device, Value: 1}
		},
		func(a, b int64) int64 { return a + b },
		streaming.EventTimeWindow{Length: time.Minute, AllowedLateness: lateness, Mode: streaming.AppendMode})
	if err != nil {
		return err
	}
	ps, err := store.PartitionState(ctx, job)
	if err != nil {
		return err
	}
	if err := streaming.KeepStatePerPartition(events, ps); err != nil {
		return err
	}
	counted := streaming.Map(windows.Windows(), func(w streaming.WindowedKV[string, int64]) countRow {
		return countRow{Minute: w.Window.Start.UTC().Format(time.RFC3339), Device: w.Key, Events: w.Value}
	})
	late := streaming.Map(windows.Late(), func(r reading) countRow { return countRow{Minute: minuteOf(r.Time), Device: r.Device, Late: 1} })
	bad := streaming.Map(streaming.Filter(readings, func(r reading) bool { return r.Bad != "" }),
		func(r reading) countRow { return countRow{Device: r.Device, Bad: 1} })
	rows, err := streaming.Union(counted, late, bad)
	if err != nil {
		return err
	}
	streaming.ForeachBatch(rows, func(ctx context.Context, b *streaming.BatchData[countRow]) error {
		return writeBatch(ctx, store, job, b, written)
	})
	return nil
}

// writeBatch adds the batch's rows to the tables, in the transaction of
// its positions and state (CommitBatch; a replayed batch that committed
// is not written again).
func writeBatch(ctx context.Context, store *offsets.Store, job offsets.Job, b *streaming.BatchData[countRow], written *writtenLog) error {
	rows, err := b.Collect(ctx)
	if err != nil {
		return err
	}
	merged := mergeRows(rows)
	err = store.CommitBatch(ctx, job, offsets.BatchOf(b), func(ctx context.Context, tx *sql.Tx) error {
		for _, r := range merged {
			if err := upsert(ctx, tx, store.Dialect(), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		written.note(b.Number(), merged)
	}
	return err
}

// mergeRows sums the rows of each (minute, device), sorted: replicas
// upserting the same rows lock them in one order, so they never deadlock.
func mergeRows(rows []countRow) []countRow {
	type key struct{ minute, device string }
	sums := map[key]*countRow{}
	for _, r := range rows {
		k := key{r.Minute, r.Device}
		if s := sums[k]; s != nil {
			s.Events, s.Late, s.Bad = s.Events+r.Events, s.Late+r.Late, s.Bad+r.Bad
			continue
		}
		sums[k] = &r
	}
	out := make([]countRow, 0, len(sums))
	for _, r := range sums {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b countRow) int {
		return cmp.Or(cmp.Compare(a.Minute, b.Minute), cmp.Compare(a.Device, b.Device))
	})
	return out
}

// upsert adds a row to the tables: counts and late items of a (minute,
// device) are summed over partitions and batches.
func upsert(ctx context.Context, tx *sql.Tx, d offsets.Dialect, r countRow) error {
	if r.Bad > 0 {
		_, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO device_bad_events (device, events) VALUES (?, ?)
			ON CONFLICT (device) DO UPDATE SET events = device_bad_events.events + excluded.events`), r.Device, r.Bad)
		return err
	}
	_, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO device_counts (window_start, device, events, late) VALUES (?, ?, ?, ?)
		ON CONFLICT (window_start, device) DO UPDATE SET events = device_counts.events + excluded.events, late = device_counts.late + excluded.late`),
		r.Minute, r.Device, r.Events, r.Late)
	return err
}

// writtenLog is what the output wrote per batch, for the batch's line.
type writtenLog struct {
	mu      sync.Mutex
	byBatch map[int64]batchWrites
}

// batchWrites sums what a batch wrote: (minute, device) counts, the
// events in them, late items, and events without a time.
type batchWrites struct{ counts, events, late, bad int64 }

func (w *writtenLog) note(batch int64, rows []countRow) {
	var sum batchWrites
	for _, r := range rows {
		if r.Events > 0 {
			sum.counts++
		}
		sum.events, sum.late, sum.bad = sum.events+r.Events, sum.late+r.Late, sum.bad+r.Bad
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byBatch[batch] = sum
}

func (w *writtenLog) take(batch int64) batchWrites {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.byBatch[batch]
	delete(w.byBatch, batch)
	return r
}

// batchPrinter prints a line per batch that read events, and with
// untilIdle stops the stream after 3 batches in a row that read nothing.
func batchPrinter(ssc *streaming.Context, out io.Writer, written *writtenLog, untilIdle bool) streaming.Listener {
	idle := 0
	return streaming.ListenerFunc(func(b streaming.BatchInfo) {
		w := written.take(b.Number)
		if b.Events == 0 {
			if idle++; untilIdle && idle >= 3 {
				ssc.Stop(true)
			}
			return
		}
		idle = 0
		fmt.Fprintf(out, "batch %d: %d events; wrote %d counts of closed minutes (%d events), %d late, %d without a time\n",
			b.Number, b.Events, w.counts, w.events, w.late, w.bad)
	})
}
