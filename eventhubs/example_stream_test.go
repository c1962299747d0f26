package eventhubs_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// The guide's "Creating a Direct Stream" and "Obtaining Offsets": each
// batch is an RDD with one task per partition, and its OffsetRanges say
// what it reads.
func ExampleCreateDirectStream() {
	ctx := context.Background()
	connectionString, stop := exampleHub(ctx) // hub "test": 100 events in each of 2 partitions
	defer stop()

	ssc, err := streaming.NewContext(100*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		log.Fatal(err)
	}
	ehConf := eventhubs.NewConf(connectionString).
		SetStartingPosition(eventhubs.StartOfStream()).
		SetStartingPositions(map[string]eventhubs.EventPosition{"1": eventhubs.FromSequenceNumber(50, true)}).
		SetMaxRatePerPartition(40)
	stream, err := eventhubs.CreateDirectStream(ssc, ehConf)
	if err != nil {
		log.Fatal(err)
	}

	batches := 0
	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		offsetRanges := rdd.OffsetRanges()
		events := make([]int, len(offsetRanges))
		err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			o := offsetRanges[p.Index()] // this task's range
			for _, err := range p.Events() {
				if err != nil {
					return fmt.Errorf("%s: %w", o, err)
				}
				events[p.Index()]++
			}
			return nil
		})
		for i, o := range offsetRanges {
			fmt.Printf("%s %s %d %d (%d events)\n", o.Name, o.PartitionID, o.FromSeqNo, o.UntilSeqNo, events[i])
		}
		if batches++; batches == 3 {
			ssc.Stop(true) // the batch finishes, then Run returns
		}
		return err
	})
	if err := ssc.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// test 0 0 40 (40 events)
	// test 1 50 90 (40 events)
	// test 0 40 80 (40 events)
	// test 1 90 100 (10 events)
	// test 0 80 100 (20 events)
	// test 1 100 100 (0 events)
}
