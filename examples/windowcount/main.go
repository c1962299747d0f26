// Command windowcount is a batch read by time: it counts the events each
// partition of a hub received in the last minutes (or in any window of
// enqueued times), reading them as one RDD whose offset ranges
// eventhubs.OffsetRangesBetween computes from the window's two times.
//
//	go run ./examples/windowcount                       # a local Event Hubs with sample events
//	EVENTHUB_CONNECTION_STRING='Endpoint=sb://...;EntityPath=myhub' \
//	  go run ./examples/windowcount -window 10m -consumer-group adhoc
//
// It reads without an owner level, so it never takes a partition from a
// running job; while a job holds the partitions of the consumer group it
// is refused, so give it a consumer group of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "windowcount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("windowcount", flag.ContinueOnError)
	connStr := fs.String("connection-string", os.Getenv("EVENTHUB_CONNECTION_STRING"), "Event Hubs connection string (default $EVENTHUB_CONNECTION_STRING; none: a local Event Hubs with sample events)")
	hub := fs.String("hub", "", "event hub name, when the connection string has no EntityPath")
	group := fs.String("consumer-group", eventhubs.DefaultConsumerGroup, "consumer group to read with")
	window := fs.Duration("window", 10*time.Minute, "count the events enqueued in this long before -end")
	endArg := fs.String("end", "", "the window's end, RFC 3339 (default: now, each partition's last event)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *window <= 0 {
		return fmt.Errorf("-window %s: want a positive duration", *window)
	}
	// The window: events enqueued after start, up to end.
	until, end := eventhubs.EndOfStream(), time.Now()
	if *endArg != "" {
		t, err := time.Parse(time.RFC3339Nano, *endArg)
		if err != nil {
			return fmt.Errorf("-end %q: want an RFC 3339 time, e.g. 2026-11-25T10:00:00Z", *endArg)
		}
		until, end = eventhubs.FromEnqueuedTime(t), t
	}
	start := end.Add(-*window)

	if *connStr == "" {
		local, stopLocal, err := localHub(ctx, 1000)
		if err != nil {
			return err
		}
		defer stopLocal()
		*connStr = local
	}
	ehConf := eventhubs.NewConf(*connStr).SetEventHubName(*hub).SetConsumerGroup(*group)

	// One call: every partition's range of sequence numbers in the window.
	offsetRanges, err := eventhubs.OffsetRangesBetween(ctx, ehConf, eventhubs.FromEnqueuedTime(start), until)
	if err != nil {
		return err
	}
	rdd, err := eventhubs.CreateRDD(ctx, ehConf, offsetRanges)
	if err != nil {
		return err
	}
	// One task per partition, in parallel; each counts what it reads.
	counts := make([]int64, len(offsetRanges))
	err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		for _, err := range p.Events() {
			if err != nil {
				return err
			}
			counts[p.Index()]++
		}
		return nil
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "events enqueued after %s, until %s:\n", start.UTC().Format(time.RFC3339), endText(*endArg, end))
	printCounts(out, offsetRanges, counts)
	return nil
}

// printCounts prints each partition's count of the events of its range,
// and their total.
func printCounts(out io.Writer, offsetRanges []eventhubs.OffsetRange, counts []int64) {
	var total int64
	for i, o := range offsetRanges {
		if o.Count() == 0 {
			fmt.Fprintf(out, "partition %s: 0 events\n", o.PartitionID)
			continue
		}
		fmt.Fprintf(out, "partition %s: %d events (sequence numbers %d to %d)\n", o.PartitionID, counts[i], o.FromSeqNo, o.UntilSeqNo-1)
		total += counts[i]
	}
	fmt.Fprintf(out, "total: %d events\n", total)
}

func endText(arg string, end time.Time) string {
	if arg == "" {
		return "now"
	}
	return end.UTC().Format(time.RFC3339Nano)
}

// localHub starts an in-memory Event Hubs with hub "telemetry" (4
// partitions) and sends it n sample readings, spread over its partitions.
func localHub(ctx context.Context, n int) (string, func(), error) {
	srv, err := emulator.Start(ctx, &emulator.Config{
		Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: 4}},
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
	for part := range 4 {
		id := fmt.Sprint(part)
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			stop()
			return "", nil, err
		}
		for i := range n / 4 {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, `{"device":"d%d","reading":%d}`, part, i)}, nil); err != nil {
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
