// Command exactlyonce is the guide's "Your own data store": an aggregation
// (events per device) upserted into a table in the same transaction as the
// batch's offsets, so the counts are exact whatever fails and restarts.
//
//	go run ./examples/exactlyonce                          # local Event Hubs + SQLite
//	go run ./examples/exactlyonce -db postgres://user:pass@localhost/db
//	EVENTHUB_CONNECTION_STRING='Endpoint=sb://...;EntityPath=telemetry' go run ./examples/exactlyonce
//
// Events are JSON objects with a "device" field. With the local Event Hubs
// each run sends 2,000 more sample events and the counts grow by exactly
// that much; -fail-in-batch N makes batch N fail after writing its counts,
// to show that the transaction, offsets included, rolls back.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func main() {
	// No signal context: cancelling one abandons the running batch. The
	// stream turns Ctrl-C into a graceful stop itself (RunUntilSignal).
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "exactlyonce:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("exactlyonce", flag.ContinueOnError)
	connStr := fs.String("connection-string", os.Getenv("EVENTHUB_CONNECTION_STRING"), "Event Hubs connection string (none: a local Event Hubs with sample events)")
	dbSpec := fs.String("db", "sqlite:exactlyonce.db", "sqlite:PATH or a postgres:// URL")
	dataDir := fs.String("data", "exactlyonce-data", "with the local Event Hubs: where it keeps its events")
	failIn := fs.Int64("fail-in-batch", 0, "make this batch fail after writing its counts (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(*dbSpec)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS device_counts (device TEXT PRIMARY KEY, events BIGINT NOT NULL)`); err != nil {
		return err
	}

	untilIdle := false
	if *connStr == "" {
		local, stopLocal, err := localHub(ctx, *dataDir, 2000)
		if err != nil {
			return err
		}
		defer stopLocal()
		*connStr, untilIdle = local, true
	}
	ssc, err := countDevices(ctx, db, eventhubs.NewConf(*connStr).SetMaxRatePerPartition(200), *failIn)
	if err != nil {
		return err
	}
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		fmt.Fprintf(out, "batch %d: %d events\n", b.Number, b.Events)
		if untilIdle && b.Events == 0 {
			ssc.Stop(true)
		}
	}))
	// Ctrl-C: the running batch finishes and commits; twice: at once.
	runErr := ssc.RunUntilSignal(ctx)
	return errors.Join(runErr, printCounts(ctx, db, out))
}

// countDevices makes the stream that counts events per device, each
// batch's counts written with its offsets in one transaction; it begins
// from the offsets committed to the database. Batch failIn fails after
// writing its counts.
func countDevices(ctx context.Context, db *sql.DB, ehConf *eventhubs.Conf, failIn int64) (*streaming.Context, error) {
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		return nil, err
	}
	job, err := offsets.JobFor("device-counts", ehConf)
	if err != nil {
		return nil, err
	}
	// Resume also stores where a first run starts, and knows the hub by its
	// creation time: another name of the namespace continues, a hub created
	// again is data loss.
	resumed, err := store.Resume(ctx, job, ehConf)
	if err != nil {
		return nil, err
	}
	job = resumed.Job

	ssc, err := streaming.NewContext(200*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return nil, err
	}
	stream, err := eventhubs.CreateDirectStream(ssc, ehConf)
	if err != nil {
		return nil, err
	}
	batch := int64(0)
	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		batch++
		results, err := countByDevice(ctx, rdd) // yourCalculation(rdd)
		if err != nil {
			return err
		}

		// One transaction: the batch's offsets move where the stored ones
		// end (a gap, or a batch another instance committed, fails), the
		// counts are added, and a replayed batch that committed before is
		// not written again (offsets.CommitBatch).
		return store.CommitBatch(ctx, job, offsets.BatchOfRDD(rdd), func(ctx context.Context, tx *sql.Tx) error {
			for device, n := range results { // update results
				if _, err := tx.ExecContext(ctx, store.Dialect().Rebind(upsert), device, n); err != nil {
					return err
				}
			}
			if batch == failIn {
				return fmt.Errorf("batch %d failed on purpose after writing its counts (-fail-in-batch)", batch)
			}
			return nil
		})
	})
	return ssc, nil
}

// printCounts prints each device's count.
func printCounts(ctx context.Context, db *sql.DB, out io.Writer) error {
	rows, err := db.QueryContext(ctx, `SELECT device, events FROM device_counts ORDER BY device`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var device string
		var n int64
		if err := rows.Scan(&device, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %d\n", device, n)
	}
	return rows.Err()
}

// countByDevice reads the batch, one goroutine per partition, and counts
// events per device.
func countByDevice(ctx context.Context, rdd *eventhubs.RDD) (map[string]int64, error) {
	var mu sync.Mutex
	counts := map[string]int64{}
	err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		local := map[string]int64{}
		for ev, err := range p.Events() {
			if err != nil {
				return err
			}
			var reading struct{ Device string }
			if json.Unmarshal(ev.Body, &reading) != nil || reading.Device == "" {
				reading.Device = "(unknown)"
			}
			local[reading.Device]++
		}
		mu.Lock()
		defer mu.Unlock()
		for d, n := range local {
			counts[d] += n
		}
		return nil
	})
	return counts, err
}

func openDB(spec string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return sql.Open("pgx", spec)
	}
	return nil, fmt.Errorf("-db: want sqlite:PATH or a postgres:// URL")
}

// upsert adds to a device's count. SQLite and PostgreSQL share the syntax;
// the store's dialect writes the placeholders.
const upsert = `INSERT INTO device_counts (device, events) VALUES (?, ?)
	ON CONFLICT (device) DO UPDATE SET events = device_counts.events + excluded.events`

// localHub starts a local Event Hubs keeping its events in dir, and sends n
// sample readings from 8 devices to hub "telemetry".
func localHub(ctx context.Context, dir string, n int) (string, func(), error) {
	srv, err := emulator.Start(ctx, &emulator.Config{
		DataDir: dir,
		Hubs:    []emulator.HubConfig{{Name: "telemetry", PartitionCount: 4}},
	})
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eventhubs.CloseAll(ctx)
		srv.Close()
	}
	cs := srv.ConnectionString("telemetry")
	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "", nil)
	if err != nil {
		stop()
		return "", nil, err
	}
	defer p.Close(ctx)
	for d := range 8 {
		device := fmt.Sprintf("device-%d", d)
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionKey: &device})
		if err != nil {
			stop()
			return "", nil, err
		}
		for i := range n / 8 {
			body := fmt.Appendf(nil, `{"device":%q,"reading":%d}`, device, i)
			if err := batch.AddEventData(&azeventhubs.EventData{Body: body}, nil); err != nil {
				stop()
				return "", nil, err
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			stop()
			return "", nil, err
		}
	}
	return cs, stop, nil
}
