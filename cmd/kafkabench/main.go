// Command kafkabench measures the emulator's Kafka endpoint against its
// AMQP one on the same hub, in one run: franz-go (kgo) producing and
// consuming events/s against the official Go SDK (azeventhubs) doing the
// same, with 1 KiB events. The emulator runs in this process, its
// partition logs on disk (a temporary directory) as it normally runs.
//
//	go run ./cmd/kafkabench
//	go run ./cmd/kafkabench -events 400000 -partitions 8 -runs 3
//
// Each run produces -events events with kgo and -events with the SDK's
// ProducerClient (full batches, one sender per partition), then reads the
// run's 2×-events events with a kgo consumer of the partitions (no group)
// and with the SDK's PartitionClients (one per partition), each from the
// run's start. It prints each phase's rate and, at the end, the medians of
// the runs and the ratio kgo / SDK.
//
// Files: main.go (flags, the hub, the runs and the report), produce.go
// (the two producers), consume.go (the two consumers).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ehstream/ehstream/internal/benchstat"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// config is what the flags say.
type config struct {
	events, partitions, size, runs int
}

func main() {
	var c config
	flag.IntVar(&c.events, "events", 200_000, "events each producer sends per run")
	flag.IntVar(&c.partitions, "partitions", 4, "partitions of the hub")
	flag.IntVar(&c.size, "size", 1024, "event body size in bytes")
	flag.IntVar(&c.runs, "runs", 3, "runs; the report gives their medians")
	flag.Parse()
	if c.events < 1 || c.partitions < 1 || c.size < 1 || c.runs < 1 {
		fmt.Fprintf(os.Stderr, "kafkabench: -events %d, -partitions %d, -size %d, -runs %d: give positive numbers\n", c.events, c.partitions, c.size, c.runs)
		os.Exit(2)
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkabench:", err)
		os.Exit(1)
	}
	res.report(os.Stdout)
}

// phases are the four measures, in the order a run takes them.
var phases = []string{"kgo produce", "SDK produce", "kgo consume", "SDK consume"}

// results are events/s of each phase, one per run.
type results map[string][]float64

// bench is the hub the runs share.
type bench struct {
	c         config
	srv       *emulator.Server
	hub       string
	cs        string
	kafkaAddr string
}

// run starts the emulator with its data in a temporary directory, runs
// the phases c.runs times and returns their rates.
func run(ctx context.Context, c config) (results, error) {
	dir, err := os.MkdirTemp("", "kafkabench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bench{c: c, hub: "bench"}
	b.srv, err = emulator.Start(ctx, &emulator.Config{DataDir: dir, KafkaListen: "127.0.0.1:0",
		Hubs: []emulator.HubConfig{{Name: b.hub, PartitionCount: c.partitions}}})
	if err != nil {
		return nil, err
	}
	defer b.srv.Close()
	b.cs, b.kafkaAddr = b.srv.ConnectionString(""), b.srv.KafkaAddr()
	res := results{}
	for r := range c.runs {
		if err := b.runOnce(ctx, r, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// runOnce measures each phase once; the consumers read what this run's
// producers wrote, from the partitions' ends before it.
func (b *bench) runOnce(ctx context.Context, r int, res results) error {
	starts, err := b.ends(ctx)
	if err != nil {
		return err
	}
	measures := []func(context.Context) (int, error){
		b.kgoProduce,
		b.sdkProduce,
		func(ctx context.Context) (int, error) { return b.kgoConsume(ctx, starts, 2*b.c.events) },
		func(ctx context.Context) (int, error) { return b.sdkConsume(ctx, starts, 2*b.c.events) },
	}
	for i, measure := range measures {
		start := time.Now()
		n, err := measure(ctx)
		if err != nil {
			return fmt.Errorf("run %d, %s: %w", r+1, phases[i], err)
		}
		rate := float64(n) / time.Since(start).Seconds()
		res[phases[i]] = append(res[phases[i]], rate)
		fmt.Fprintf(os.Stderr, "run %d: %s: %d events of %d bytes, %.0f events/s\n", r+1, phases[i], n, b.c.size, rate)
	}
	return nil
}

// ends are the partitions' next sequence numbers (Kafka offsets).
func (b *bench) ends(ctx context.Context) ([]int64, error) {
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(b.cs, b.hub, azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		return nil, err
	}
	defer cc.Close(ctx)
	out := make([]int64, b.c.partitions)
	for p := range out {
		pp, err := cc.GetPartitionProperties(ctx, fmt.Sprint(p), nil)
		if err != nil {
			return nil, err
		}
		out[p] = pp.LastEnqueuedSequenceNumber + 1
	}
	return out, nil
}

// report prints the medians and the ratios kgo / SDK.
func (res results) report(w io.Writer) {
	med := map[string]float64{}
	for _, ph := range phases {
		med[ph] = benchstat.Median(res[ph])
		fmt.Fprintf(w, "%-12s %9.0f events/s (median of %d: %s)\n", ph+":", med[ph], len(res[ph]), benchstat.Runs(res[ph]))
	}
	fmt.Fprintf(w, "produce kgo/SDK: %.2f\n", med["kgo produce"]/med["SDK produce"])
	fmt.Fprintf(w, "consume kgo/SDK: %.2f\n", med["kgo consume"]/med["SDK consume"])
}
