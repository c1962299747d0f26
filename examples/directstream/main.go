// Command directstream is the guide's "Creating a Direct Stream" and
// "Obtaining Offsets" as a program: it reads a hub as a direct stream from
// a starting position, at most a rate of events per partition per batch,
// and prints each batch's offset ranges as "hub partition from until".
//
//	go run ./examples/directstream                      # a local Event Hubs, with a producer
//	EVENTHUB_CONNECTION_STRING='Endpoint=sb://...;EntityPath=myhub' \
//	  go run ./examples/directstream -starting-position latest -max-rate-per-partition 10000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

func main() {
	// No signal context: cancelling one abandons the running batch. The
	// stream turns Ctrl-C into a graceful stop itself (RunUntilSignal).
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "directstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("directstream", flag.ContinueOnError)
	connStr := fs.String("connection-string", os.Getenv("EVENTHUB_CONNECTION_STRING"), "Event Hubs connection string (default $EVENTHUB_CONNECTION_STRING; none: a local Event Hubs with a producer)")
	hub := fs.String("hub", "", "event hub name, when the connection string has no EntityPath")
	start := fs.String("starting-position", "earliest", "earliest, latest, seq:N, offset:S or time:RFC3339")
	rate := fs.Int64("max-rate-per-partition", 1000, "most events a batch reads from one partition")
	interval := fs.Duration("batch-interval", time.Second, "time between batches")
	batches := fs.Int("batches", 0, "stop after this many batches (0: until Ctrl-C; 5 with the local Event Hubs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	position, err := eventhubs.ParseEventPosition(*start)
	if err != nil {
		return err
	}

	if *connStr == "" {
		local, stopLocal, err := localHub(ctx)
		if err != nil {
			return err
		}
		defer stopLocal()
		*connStr = local
		if *batches == 0 {
			*batches = 5
		}
	}

	// The guide: EventHubsConf(connectionString).setStartingPosition(...).setMaxRatePerPartition(...)
	ehConf := eventhubs.NewConf(*connStr).
		SetEventHubName(*hub).
		SetStartingPosition(position).
		SetMaxRatePerPartition(*rate)
	ssc, err := streaming.NewContext(*interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return err
	}
	stream, err := eventhubs.CreateDirectStream(ssc, ehConf)
	if err != nil {
		return err
	}

	n := 0
	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		offsetRanges := rdd.OffsetRanges() // the guide's HasOffsetRanges
		for _, o := range offsetRanges {
			fmt.Fprintf(out, "%s %s %d %d\n", o.Name, o.PartitionID, o.FromSeqNo, o.UntilSeqNo)
		}
		err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			for _, err := range p.Events() { // one task per partition; process events here
				if err != nil {
					return err
				}
			}
			return nil
		})
		if n++; n == *batches {
			ssc.Stop(true)
		}
		return err
	})
	// Ctrl-C: let the running batch finish.
	// Ctrl-C: the running batch finishes, then Run returns; twice: at once.
	return ssc.RunUntilSignal(ctx)
}

// localHub starts an in-memory Event Hubs with hub "telemetry" (4
// partitions) and a producer that keeps writing to it.
func localHub(ctx context.Context) (string, func(), error) {
	srv, err := emulator.Start(ctx, &emulator.Config{
		Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: 4}},
	})
	if err != nil {
		return "", nil, err
	}
	connStr := srv.ConnectionString("telemetry")
	producer, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		srv.Close()
		return "", nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; pctx.Err() == nil; i++ {
			batch, err := producer.NewEventDataBatch(pctx, nil)
			if err != nil {
				return
			}
			for j := range 100 {
				_ = batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, `{"device":"d%d","reading":%d}`, j%10, i*100+j)}, nil)
			}
			if err := producer.SendEventDataBatch(pctx, batch, nil); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintln(os.Stderr, "producer:", err)
				return
			}
			select {
			case <-pctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return connStr, func() {
		cancel()
		<-done
		ctx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelClose()
		producer.Close(ctx)
		eventhubs.CloseAll(ctx)
		srv.Close()
	}, nil
}
