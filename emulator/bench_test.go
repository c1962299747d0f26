package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// The benchmarks go through the official Go SDK over TCP, on one partition,
// with 100-byte events, and report events/s. Run them with:
//
//	go test -run x -bench SDK -benchtime 200000x -count 5 ./emulator/
var payload100 = []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")

func benchServer(b *testing.B, disk bool) *emulator.Server {
	cfg := &emulator.Config{Hubs: []emulator.HubConfig{{Name: "bench", PartitionCount: 1}}}
	if disk {
		cfg.DataDir = b.TempDir()
	}
	return start(b, cfg)
}

// fill sends n events to partition 0 in full batches.
func fill(b *testing.B, ctx context.Context, p *azeventhubs.ProducerClient, n int) {
	for sent := 0; sent < n; {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")})
		if err != nil {
			b.Fatal(err)
		}
		for sent < n {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: payload100}, nil); err != nil {
				break // full
			}
			sent++
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSend(b *testing.B, disk bool) {
	srv := benchServer(b, disk)
	ctx := testCtx(b, 10*time.Minute)
	p := producer(b, srv, "bench")
	fill(b, ctx, p, 100) // connect and attach outside the timer
	b.ResetTimer()
	began := time.Now()
	fill(b, ctx, p, b.N)
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
}

func benchReceive(b *testing.B, disk bool) {
	srv := benchServer(b, disk)
	ctx := testCtx(b, 10*time.Minute)
	fill(b, ctx, producer(b, srv, "bench"), b.N)
	c := consumer(b, srv, "bench", azeventhubs.DefaultConsumerGroup)
	pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}, Prefetch: 3000})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close(ctx)
	b.ResetTimer()
	began := time.Now()
	for got := 0; got < b.N; {
		evs, err := pc.ReceiveEvents(ctx, min(b.N-got, 1000), nil)
		if err != nil {
			b.Fatal(err)
		}
		got += len(evs)
	}
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
}

func BenchmarkSDKSendMemory(b *testing.B)    { benchSend(b, false) }
func BenchmarkSDKSendDisk(b *testing.B)      { benchSend(b, true) }
func BenchmarkSDKReceiveMemory(b *testing.B) { benchReceive(b, false) }
func BenchmarkSDKReceiveDisk(b *testing.B)   { benchReceive(b, true) }
