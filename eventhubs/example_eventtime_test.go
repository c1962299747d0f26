package eventhubs_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// Events per partition and hour of their enqueued time, in event-time
// windows: each batch upserts the hours it changed (UpdateMode), so the
// last value of each (hour, partition) is its count. All 200 events were
// enqueued moments ago; none is late.
func ExampleEnqueuedTime() {
	ctx := context.Background()
	connectionString, stop := exampleHub(ctx) // hub "test": 100 events in each of 2 partitions
	defer stop()
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ssc, err := streaming.NewContext(100*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		log.Fatal(err)
	}
	store, err := streaming.NewDirStore(dir) // the windows and the watermark go into the checkpoint
	if err != nil {
		log.Fatal(err)
	}
	ssc.Checkpoint(store)
	stream, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(connectionString).SetMaxRatePerPartition(40))
	if err != nil {
		log.Fatal(err)
	}
	events, err := eventhubs.Events(stream)
	if err != nil {
		log.Fatal(err)
	}
	perHour, err := streaming.ReduceByKeyAndEventTimeWindow(events, eventhubs.EnqueuedTime,
		func(e *eventhubs.Event) streaming.KV[string, int] {
			return streaming.KV[string, int]{Key: "partition " + e.PartitionID, Value: 1}
		},
		func(a, b int) int { return a + b },
		streaming.EventTimeWindow{Length: time.Hour, AllowedLateness: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	table := map[streaming.TimeWindow]map[string]int{} // what an upsert keyed by window and partition keeps
	streaming.ForeachBatch(perHour.Windows(), func(ctx context.Context, b *streaming.BatchData[streaming.WindowedKV[string, int]]) error {
		rows, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if table[r.Window] == nil {
				table[r.Window] = map[string]int{}
			}
			table[r.Window][r.Key] = r.Value
		}
		if b.Number() == 4 {
			ssc.Stop(true)
		}
		return nil
	})
	if err := ssc.Run(ctx); err != nil {
		log.Fatal(err)
	}
	total := 0
	for _, parts := range table {
		total += parts["partition 0"] + parts["partition 1"]
	}
	fmt.Println("events counted:", total, "late:", perHour.Stats().Late)
	// Output:
	// events counted: 200 late: 0
}
