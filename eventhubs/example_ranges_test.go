package eventhubs_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
)

// A batch read by time: everything enqueued since a moment, from every
// partition, in one call; CreateRDD reads the ranges it returns.
func ExampleOffsetRangesBetween() {
	ctx := context.Background()
	connectionString, stop := exampleHub(ctx) // 100 events in each partition
	defer stop()
	ehConf := eventhubs.NewConf(connectionString)

	since := exampleMoment(ctx, ehConf)
	exampleSend(ctx, connectionString, 5) // 5 more events in each partition

	offsetRanges, err := eventhubs.OffsetRangesBetween(ctx, ehConf, eventhubs.FromEnqueuedTime(since), eventhubs.EndOfStream())
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range offsetRanges {
		fmt.Println(o)
	}
	rdd, err := eventhubs.CreateRDD(ctx, ehConf, offsetRanges)
	if err != nil {
		log.Fatal(err)
	}
	events, err := rdd.Collect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("events enqueued since then:", len(events))

	// Where each partition stood at that moment, as sequence numbers.
	next, err := eventhubs.ResolvePositions(ctx, ehConf, map[string]eventhubs.EventPosition{
		"0": eventhubs.FromEnqueuedTime(since),
		"1": eventhubs.StartOfStream(),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("partition 0 from then:", next["0"], "partition 1 from its start:", next["1"])
	// Output:
	// test 0 100 105
	// test 1 100 105
	// events enqueued since then: 10
	// partition 0 from then: 100 partition 1 from its start: 0
}

// exampleMoment returns a time after the events enqueued so far and before
// later ones. Enqueued times are kept to the millisecond, so it is a
// millisecond after the last, once the clock has passed that.
func exampleMoment(ctx context.Context, conf *eventhubs.Conf) time.Time {
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		log.Fatal(err)
	}
	var last time.Time
	for _, b := range hp.Partitions {
		if b.LastEnqueued.After(last) {
			last = b.LastEnqueued
		}
	}
	for !time.Now().After(last.Add(2 * time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	return last.Add(time.Millisecond)
}

// exampleSend sends n events to each partition of exampleHub's hub.
func exampleSend(ctx context.Context, connectionString string, n int) {
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
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "later %04d", i)}, nil); err != nil {
				log.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			log.Fatal(err)
		}
	}
}
