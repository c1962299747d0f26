package eventhubs_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// BenchmarkReadRange reads one range of 200,000 100-byte events from the
// emulator over TCP, with a bare SDK PartitionClient and with CreateRDD, in
// the same process. Compare their events/s:
//
//	go test -run x -bench ReadRange -count 5 ./eventhubs/
func BenchmarkReadRange(b *testing.B) {
	const n = 200_000
	srv := startEmulator(b, emulator.HubConfig{Name: "bench", PartitionCount: 1})
	ctx := context.Background()
	fillBodies(b, ctx, srv, "bench", "0", n, 100)

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
			got := 0
			err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
				for _, err := range p.Events() {
					if err != nil {
						return err
					}
					got++
				}
				return nil
			})
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
	srv := startEmulator(b, emulator.HubConfig{Name: "bench", PartitionCount: partitions})
	ctx := context.Background()
	for p := range partitions {
		fillBodies(b, ctx, srv, "bench", fmt.Sprint(p), perPartition, 100)
	}

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
		batches := 0
		for b.Loop() {
			ssc, err := streaming.NewContext(100*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
			if err != nil {
				b.Fatal(err)
			}
			ds, err := eventhubs.CreateDirectStream(ssc, conf)
			if err != nil {
				b.Fatal(err)
			}
			var got atomic.Int64
			ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
				batches++
				err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
					for _, err := range p.Events() {
						if err != nil {
							return err
						}
						got.Add(1)
					}
					return nil
				})
				if got.Load() >= n {
					ssc.Stop(true)
				}
				return err
			})
			if err := ssc.Run(ctx); err != nil || got.Load() != n {
				b.Fatalf("streamed %d events, %v", got.Load(), err)
			}
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

// fillBodies sends n events of size bytes to a partition.
func fillBodies(b testing.TB, ctx context.Context, srv *emulator.Server, hub, partition string, n, size int) {
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(hub), "", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	body := make([]byte, size)
	for i := 0; i < n; {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			b.Fatal(err)
		}
		for ; i < n; i++ {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: body}, nil); err != nil {
				break
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
	}
}
