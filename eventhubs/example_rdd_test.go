package eventhubs_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// The guide's "Creating an RDD": read a defined range of sequence numbers
// of each partition as one bounded batch.
func ExampleCreateRDD() {
	ctx := context.Background()
	connectionString, stop := exampleHub(ctx) // your Event Hubs connection string
	defer stop()

	ehConf := eventhubs.NewConf(connectionString)
	offsetRanges := []eventhubs.OffsetRange{
		// Event Hub name, partition, inclusive starting sequence number, exclusive ending sequence number
		{Name: "test", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100},
		{Name: "test", PartitionID: "1", FromSeqNo: 50, UntilSeqNo: 100},
	}
	rdd, err := eventhubs.CreateRDD(ctx, ehConf, offsetRanges)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("events:", rdd.Count())

	// One task per range, run in parallel; events stream in order.
	bytes := make([]int, len(offsetRanges))
	err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		for ev, err := range p.Events() {
			if err != nil {
				return err
			}
			bytes[p.Index()] += len(ev.Body)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, o := range rdd.OffsetRanges() {
		fmt.Printf("%s: %d bytes\n", o, bytes[i])
	}
	// Output:
	// events: 150
	// test 0 0 100: 1000 bytes
	// test 1 50 100: 500 bytes
}

// exampleHub starts a local Event Hubs with hub "test" holding 100 events of
// 10 bytes in each of its 2 partitions, and returns its connection string.
func exampleHub(ctx context.Context) (string, func()) {
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "test", PartitionCount: 2}}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("test"), "", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	for _, id := range []string{"0", "1"} {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			log.Fatal(err)
		}
		for i := range 100 {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "event %04d", i)}, nil); err != nil {
				log.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			log.Fatal(err)
		}
	}
	return srv.ConnectionString("test"), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eventhubs.CloseAll(ctx)
		srv.Close()
	}
}
