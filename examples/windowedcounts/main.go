// Command windowedcounts counts events per device in windows of 10 s
// sliding every 2 s (Spark's reduceByKeyAndWindow), and keeps each device's
// running total (mapWithState). Each window's counts go to SQLite with the
// window's offsets in the same transaction; the totals likewise, as
// another job. The windows and totals live in the stream's checkpoint, so
// that after a crash, kill -9 included, the rows are those of a run
// without one.
//
//	go run ./examples/windowedcounts                  # a local Event Hubs with sample events
//	EVENTHUB_CONNECTION_STRING='Endpoint=sb://...;EntityPath=telemetry' go run ./examples/windowedcounts
//
// Events are JSON objects with a "device" field.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
	_ "modernc.org/sqlite"
)

func main() {
	// No signal context: cancelling one abandons the running batch; the
	// stream turns Ctrl-C into a graceful stop itself (RunUntilSignal).
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "windowedcounts:", err)
		os.Exit(1)
	}
}

type options struct {
	connStr, db, checkpoint, data string
	interval, window, slide       time.Duration
	rate                          int64
	untilIdle                     bool
	totals                        string // the totals program: v1, v2 (changed, same types), float (changed type)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("windowedcounts", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.connStr, "connection-string", os.Getenv("EVENTHUB_CONNECTION_STRING"), "Event Hubs connection string (none: a local Event Hubs with sample events)")
	fs.StringVar(&o.db, "db", "windowedcounts.db", "the SQLite database of the results and their offsets")
	fs.StringVar(&o.checkpoint, "checkpoint", "windowedcounts-checkpoint", "the stream's checkpoint directory: positions, windows and totals")
	fs.StringVar(&o.data, "data", "windowedcounts-data", "with the local Event Hubs: where it keeps its events")
	fs.DurationVar(&o.interval, "batch-interval", time.Second, "batch interval")
	fs.DurationVar(&o.window, "window", 10*time.Second, "window length, a multiple of the batch interval")
	fs.DurationVar(&o.slide, "slide", 2*time.Second, "window slide, a multiple of the batch interval")
	fs.Int64Var(&o.rate, "max-rate-per-partition", 1000, "events per partition per batch, at most")
	fs.BoolVar(&o.untilIdle, "until-idle", false, "stop after a batch that read nothing (always with the local Event Hubs)")
	fs.StringVar(&o.totals, "totals-program", "v1", "internal, for tests: v2 changes the totals' program, float their type")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.connStr == "" {
		srv, err := localHub(ctx, o.data, 2000)
		if err != nil {
			return err
		}
		defer srv.Close()
		// Done reading: close the stream's connections while the hub is up.
		defer eventhubs.CloseAll(context.Background())
		o.connStr, o.untilIdle = srv.ConnectionString("telemetry"), true
	}
	db, err := sql.Open("sqlite", "file:"+o.db+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	return stream(ctx, db, o, out)
}

const schema = `CREATE TABLE IF NOT EXISTS windows (window_end BIGINT PRIMARY KEY, window_time TEXT NOT NULL, ranges TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS window_counts (window_end BIGINT NOT NULL, device TEXT NOT NULL, events BIGINT NOT NULL, PRIMARY KEY (window_end, device));
CREATE TABLE IF NOT EXISTS device_totals (device TEXT PRIMARY KEY, events BIGINT NOT NULL, batch BIGINT NOT NULL)`

func stream(ctx context.Context, db *sql.DB, o options, out io.Writer) error {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return err
	}
	ehConf := eventhubs.NewConf(o.connStr).SetMaxRatePerPartition(o.rate)
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	windowsJob, err := offsets.JobFor("device-windows", ehConf)
	if err != nil {
		return err
	}
	totalsJob, err := offsets.JobFor("device-totals", ehConf)
	if err != nil {
		return err
	}

	ssc, perDevice, err := eventsPerDevice(ehConf, o)
	if err != nil {
		return err
	}
	if err := windows(store, windowsJob, perDevice, o); err != nil {
		return err
	}
	if err := totals(ctx, store, totalsJob, perDevice, o.totals); err != nil {
		return err
	}

	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		fmt.Fprintf(out, "batch %d: %d events\n", b.Number, b.Events)
		if o.untilIdle && b.Events == 0 && b.Number%int64(o.slide/o.interval) == 0 {
			ssc.Stop(true)
		}
	}))
	// Ctrl-C: the running batch finishes and commits; twice: at once.
	if err := ssc.RunUntilSignal(ctx); err != nil {
		return err
	}
	return printLast(ctx, db, out)
}

// eventsPerDevice makes the stream's Context, with its checkpoint, and the
// stream of (device, 1) pairs of the hub's events.
func eventsPerDevice(ehConf *eventhubs.Conf, o options) (*streaming.Context, streaming.DStream[streaming.KV[string, int64]], error) {
	var none streaming.DStream[streaming.KV[string, int64]]
	ssc, err := streaming.NewContext(o.interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return nil, none, err
	}
	ckDir, err := streaming.NewDirStore(o.checkpoint) // windows and totals are part of it
	if err != nil {
		return nil, none, err
	}
	if err := ssc.Checkpoint(ckDir); err != nil {
		return nil, none, err
	}
	ds, err := eventhubs.CreateDirectStream(ssc, ehConf)
	if err != nil {
		return nil, none, err
	}
	events, err := eventhubs.Events(ds)
	if err != nil {
		return nil, none, err
	}
	perDevice := streaming.Map(events, func(e *eventhubs.Event) streaming.KV[string, int64] {
		return streaming.KV[string, int64]{Key: device(e), Value: 1}
	})
	return ssc, perDevice, nil
}

// windows counts events per device in each window, with an inverse: each
// slide adds the new batches' counts and takes off those of the batches
// that left. Each window's counts go to the database with the window's
// offsets, in one transaction.
func windows(store *offsets.Store, job offsets.Job, perDevice streaming.DStream[streaming.KV[string, int64]], o options) error {
	counts, err := streaming.ReduceByKeyAndWindow(perDevice,
		func(a, b int64) int64 { return a + b }, func(a, b int64) int64 { return a - b }, o.window, o.slide)
	if err != nil {
		return err
	}
	streaming.ForeachBatch(counts, func(ctx context.Context, b *streaming.BatchData[streaming.KV[string, int64]]) error {
		results, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		// The window's counts and the ranges read since the last window, in
		// one transaction; a replayed window that committed, an empty batch's
		// included, is not written again (offsets.CommitBatch).
		batch := offsets.BatchOf(b)
		return store.CommitBatch(ctx, job, batch, func(ctx context.Context, tx *sql.Tx) error {
			rj, _ := json.Marshal(batch.Ranges)
			if _, err := tx.ExecContext(ctx, `INSERT INTO windows (window_end, window_time, ranges) VALUES (?, ?, ?)`,
				b.Number(), b.Time().UTC().Format(time.RFC3339Nano), string(rj)); err != nil {
				return err
			}
			for _, kv := range results {
				if _, err := tx.ExecContext(ctx, `INSERT INTO window_counts (window_end, device, events) VALUES (?, ?, ?)`, b.Number(), kv.Key, kv.Value); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return nil
}

// totals keeps each device's running total with MapWithState and writes the
// batch's new totals in a transaction of their own job.
func totals(ctx context.Context, store *offsets.Store, job offsets.Job, perDevice streaming.DStream[streaming.KV[string, int64]], program string) error {
	write := func(ctx context.Context, b *streaming.BatchData[streaming.KV[string, int64]]) error {
		results, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		return store.CommitBatch(ctx, job, offsets.BatchOf(b), func(ctx context.Context, tx *sql.Tx) error {
			for _, kv := range results {
				if _, err := tx.ExecContext(ctx, `INSERT INTO device_totals (device, events, batch) VALUES (?, ?, ?)
					ON CONFLICT (device) DO UPDATE SET events = excluded.events, batch = excluded.batch`, kv.Key, kv.Value, b.Number()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	switch program {
	case "v1", "v2":
		in := perDevice
		if program == "v2" {
			// A changed program: another step before the state, the same types.
			in = streaming.Filter(perDevice, func(kv streaming.KV[string, int64]) bool { return kv.Key != "" })
		}
		running, err := streaming.MapWithState(in, streaming.StateSpec[string, int64, int64, streaming.KV[string, int64]]{
			Func: func(device string, n int64, state *streaming.State[int64]) streaming.KV[string, int64] {
				total, _ := state.Get()
				state.Update(total + n)
				return streaming.KV[string, int64]{Key: device, Value: total + n}
			},
			Timeout: time.Hour, // a device silent for an hour of batches is forgotten
		})
		if err != nil {
			return err
		}
		// The last total of each device in the batch.
		last := streaming.ReduceByKey(running, func(a, b int64) int64 { return max(a, b) })
		streaming.ForeachBatch(last, write)
	case "float":
		// A changed type: the checkpoint's totals cannot be read as float64.
		running, err := streaming.MapWithState(perDevice, streaming.StateSpec[string, int64, float64, streaming.KV[string, int64]]{
			Func: func(device string, n int64, state *streaming.State[float64]) streaming.KV[string, int64] {
				total, _ := state.Get()
				state.Update(total + float64(n))
				return streaming.KV[string, int64]{Key: device, Value: int64(total) + n}
			},
		})
		if err != nil {
			return err
		}
		streaming.ForeachBatch(running, write)
	default:
		return fmt.Errorf("-totals-program %q: want v1, v2 or float", program)
	}
	return nil
}

func device(e *eventhubs.Event) string {
	var reading struct{ Device string }
	if json.Unmarshal(e.Body, &reading) != nil || reading.Device == "" {
		return "(unknown)"
	}
	return reading.Device
}

// printLast prints the last window's counts.
func printLast(ctx context.Context, db *sql.DB, out io.Writer) error {
	rows, err := db.QueryContext(ctx, `SELECT window_end, device, events FROM window_counts
		WHERE window_end = (SELECT max(window_end) FROM window_counts) ORDER BY device`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var end, n int64
		var dev string
		if err := rows.Scan(&end, &dev, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "window ending at batch %d: %s %d\n", end, dev, n)
	}
	return rows.Err()
}

// localHub starts a local Event Hubs in this process (package emulator),
// keeping its events in dir, and sends n readings to its hub "telemetry".
func localHub(ctx context.Context, dir string, n int) (*emulator.Server, error) {
	srv, err := emulator.Start(ctx, &emulator.Config{DataDir: dir, Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: 4}}})
	if err != nil {
		return nil, err
	}
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("telemetry"), "", nil)
	if err == nil {
		err = sendReadings(ctx, p, 0, n)
		p.Close(context.Background())
	}
	if err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

const devices = 10

// sendReadings sends the readings numbered first to first+n-1, reading i
// from device i%10, keyed by device: each device's readings go to one
// partition, in order.
func sendReadings(ctx context.Context, p *azeventhubs.ProducerClient, first, n int) error {
	for d := range devices {
		dev := fmt.Sprintf("device-%02d", d)
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionKey: &dev})
		if err != nil {
			return err
		}
		for i := first; i < first+n; i++ {
			if i%devices != d {
				continue
			}
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, `{"device":%q,"seq":%d}`, dev, i)}, nil); err != nil {
				return err
			}
		}
		if batch.NumEvents() > 0 {
			if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
