package eventhubs_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// A typed pipeline on a direct stream: events per partition in windows of
// 2 batches sliding every batch, with the ranges each output commits.
func ExampleEvents() {
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
	store, err := streaming.NewDirStore(dir) // windows keep state: it goes into the checkpoint
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
	pairs := streaming.Map(events, func(e *eventhubs.Event) streaming.KV[string, int] {
		return streaming.KV[string, int]{Key: "partition " + e.PartitionID, Value: 1}
	})
	iv := ssc.BatchInterval()
	counts, err := streaming.ReduceByKeyAndWindow(pairs, func(a, b int) int { return a + b }, nil, 2*iv, iv)
	if err != nil {
		log.Fatal(err)
	}
	streaming.ForeachBatch(counts, func(ctx context.Context, b *streaming.BatchData[streaming.KV[string, int]]) error {
		kvs, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		slices.SortFunc(kvs, func(x, y streaming.KV[string, int]) int { return strings.Compare(x.Key, y.Key) })
		fmt.Println("batch", b.Number(), kvs, eventhubs.OffsetRangesOf(b.OffsetRanges()))
		if b.Number() == 4 {
			ssc.Stop(true)
		}
		return nil
	})
	if err := ssc.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// batch 1 [{partition 0 40} {partition 1 40}] [test 0 0 40 test 1 0 40]
	// batch 2 [{partition 0 80} {partition 1 80}] [test 0 40 80 test 1 40 80]
	// batch 3 [{partition 0 60} {partition 1 60}] [test 0 80 100 test 1 80 100]
	// batch 4 [{partition 0 20} {partition 1 20}] [test 0 100 100 test 1 100 100]
}

func ExampleOffsetRangesOf() {
	ranges := []streaming.Range{{Source: "orders", Partition: "3", From: 100, Until: 250}}
	fmt.Println(eventhubs.OffsetRangesOf(ranges))
	// Output: [orders 3 100 250]
}
