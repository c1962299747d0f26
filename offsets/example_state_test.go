package offsets_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
)

// Running totals per key with MapWithState, the state kept per partition
// beside the positions: a second run, with no checkpoint directory (a
// restart, or a replica that took the partitions over), goes on with the
// totals where the first left them. Keys are partition-local; the table
// keeps each partition's total, and a query sums them.
func ExampleStore_PartitionState() {
	ctx := context.Background()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 2}}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	defer eventhubs.CloseAll(ctx)
	dir, _ := os.MkdirTemp("", "state-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "results.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec(`CREATE TABLE totals (partition_id TEXT, k TEXT, n BIGINT, PRIMARY KEY (partition_id, k))`)
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		log.Fatal(err)
	}
	conf := eventhubs.NewConf(srv.ConnectionString("orders"))
	job, err := offsets.JobFor("totals", conf)
	if err != nil {
		log.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		sendExampleEvents(ctx, srv.ConnectionString("orders"), 6) // 6 more events in each partition
		if err := runTotals(ctx, store, job, conf.Clone(), int64(6*run)); err != nil {
			log.Fatal(err)
		}
	}
	var a, b int64
	db.QueryRow(`SELECT sum(CASE WHEN k = 'a' THEN n END), sum(CASE WHEN k = 'b' THEN n END) FROM totals`).Scan(&a, &b)
	fmt.Println("a:", a, "b:", b)
	// Output:
	// a: 12 b: 12
}

// runTotals runs the job until each partition's position is at until.
func runTotals(ctx context.Context, store *offsets.Store, job offsets.Job, conf *eventhubs.Conf, until int64) error {
	ssc, err := streaming.NewContext(50*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return err
	}
	stream, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return err
	}
	stream.SetStoredPositions(store.StoredPositions(job)) // no checkpoint: start from the stored positions
	events, err := eventhubs.Events(stream)
	if err != nil {
		return err
	}
	pairs := streaming.Map(events, func(e *eventhubs.Event) streaming.KV[string, string] {
		return streaming.KV[string, string]{Key: string(e.Body), Value: e.PartitionID}
	})
	totals, err := streaming.MapWithState(pairs, streaming.StateSpec[string, string, int64, [3]string]{
		Func: func(key, partition string, state *streaming.State[int64]) [3]string {
			n, _ := state.Get()
			state.Update(n + 1)
			return [3]string{partition, key, fmt.Sprint(n + 1)}
		}})
	if err != nil {
		return err
	}
	ps, err := store.PartitionState(ctx, job)
	if err != nil {
		return err
	}
	if err := streaming.KeepStatePerPartition(pairs, ps); err != nil {
		return err
	}
	streaming.ForeachBatch(totals, func(ctx context.Context, b *streaming.BatchData[[3]string]) error {
		rows, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		err = store.CommitBatch(ctx, job, offsets.BatchOf(b), func(ctx context.Context, tx *sql.Tx) error {
			for _, r := range rows {
				if _, err := tx.ExecContext(ctx, `INSERT INTO totals VALUES (?, ?, ?) ON CONFLICT (partition_id, k) DO UPDATE SET n = excluded.n`, r[0], r[1], r[2]); err != nil {
					return err
				}
			}
			return nil
		})
		if done := len(b.OffsetRanges()) > 0; err == nil {
			for _, r := range b.OffsetRanges() {
				done = done && r.Until == until
			}
			if done {
				ssc.Stop(true)
			}
		}
		return err
	})
	return ssc.Run(ctx)
}

// sendExampleEvents sends n events to each partition of the hub, bodies
// "a" and "b" in turn.
func sendExampleEvents(ctx context.Context, connectionString string, n int) {
	p, err := azeventhubs.NewProducerClientFromConnectionString(connectionString, "", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	for _, id := range []string{"0", "1"} {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			log.Fatal(err)
		}
		for i := range n {
			batch.AddEventData(&azeventhubs.EventData{Body: []byte{"ab"[i%2]}}, nil)
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			log.Fatal(err)
		}
	}
}
