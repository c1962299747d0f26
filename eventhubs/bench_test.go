package eventhubs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/countstream"
	"github.com/ehstream/ehstream/internal/localhub"
)

// BenchmarkReadRange reads one range of 200,000 100-byte events from the
// emulator over TCP, with a bare SDK PartitionClient and with CreateRDD, in
// the same process. Compare their events/s:
//
//	go test -run x -bench ReadRange -count 5 ./eventhubs/
func BenchmarkReadRange(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	srv := startBenchHub(b, ctx, 1, n)

	b.Run("sdk", func(b *testing.B) {
		cc, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString("bench"), "", azeventhubs.DefaultConsumerGroup, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close(ctx)
		start := time.Now()
		for b.Loop() {
			if err := sdkRead(ctx, cc, "0", n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
	})

	b.Run("rdd", func(b *testing.B) {
		conf := eventhubs.NewConf(srv.ConnectionString("bench"))
		ranges := []eventhubs.OffsetRange{{Name: "bench", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: n}}
		start := time.Now()
		for b.Loop() {
			rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
			if err != nil {
				b.Fatal(err)
			}
			got, err := countstream.Count(ctx, rdd)
			if err != nil || got != n {
				b.Fatalf("read %d events, %v", got, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
	})
}

// BenchmarkDirectStream reads a backlog of 500,000 100-byte events in 8
// partitions with bare SDK PartitionClients (one goroutine each) and with a
// direct stream whose output only counts (rate 10,000 per partition per
// 100ms batch, so batches run back to back), in the same process:
//
//	go test -run x -bench DirectStream -benchtime 1x -count 5 ./eventhubs/
func BenchmarkDirectStream(b *testing.B) {
	const partitions, perPartition = 8, 62_500
	const n = partitions * perPartition
	ctx := context.Background()
	srv := startBenchHub(b, ctx, partitions, perPartition)

	b.Run("sdk", func(b *testing.B) {
		cc, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString("bench"), "", azeventhubs.DefaultConsumerGroup, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close(ctx)
		start := time.Now()
		for b.Loop() {
			var wg sync.WaitGroup
			errs := make(chan error, partitions)
			for p := range partitions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- sdkRead(ctx, cc, fmt.Sprint(p), perPartition)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
	})

	b.Run("stream", func(b *testing.B) {
		conf := eventhubs.NewConf(srv.ConnectionString("bench")).SetMaxRatePerPartition(10_000)
		start := time.Now()
		var batches int64
		for b.Loop() {
			res, err := countstream.Run(ctx, conf, 100*time.Millisecond, n)
			if err != nil {
				b.Fatal(err)
			}
			batches += res.Batches
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(float64(batches)/float64(b.N), "batches")
	})
}

// sdkRead reads a partition's first n events with a bare SDK
// PartitionClient, as a program without ehstream would: the baseline.
func sdkRead(ctx context.Context, cc *azeventhubs.ConsumerClient, partition string, n int) error {
	from, level := int64(0), int64(0)
	pc, err := cc.NewPartitionClient(partition, &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{SequenceNumber: &from, Inclusive: true},
		OwnerLevel:    &level, Prefetch: eventhubs.DefaultPrefetch})
	if err != nil {
		return err
	}
	defer pc.Close(ctx)
	for got := 0; got < n; {
		evs, err := pc.ReceiveEvents(ctx, min(n-got, eventhubs.DefaultPrefetch), nil)
		if err != nil {
			return err
		}
		got += len(evs)
	}
	return nil
}

// startBenchHub starts a local hub "bench" with perPartition 100-byte
// events in each of its partitions.
func startBenchHub(b *testing.B, ctx context.Context, partitions, perPartition int) *emulator.Server {
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "bench", Partitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { hub.Close() })
	if err := localhub.Fill(ctx, hub.ConnectionString(), partitions, perPartition, nil); err != nil {
		b.Fatal(err)
	}
	return hub.Server
}
