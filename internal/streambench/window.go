package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// runWindow reads the backlog again with ReduceByKeyAndWindow and prints
// its rate against the plain stream's (direct, events/s).
func runWindow(connStr string, want int64, c config, direct float64) error {
	r, err := newTypedRun(connStr, c.rate, c.interval)
	if err != nil {
		return err
	}
	defer r.close()
	k := int64(c.keys)
	pairs := streaming.Map(r.events, func(e *eventhubs.Event) streaming.KV[int64, int64] {
		return streaming.KV[int64, int64]{Key: e.SequenceNumber % k, Value: 1}
	})
	counts, err := streaming.ReduceByKeyAndWindow(pairs, func(a, b int64) int64 { return a + b }, nil,
		time.Duration(c.windowBatches)*c.interval, c.interval)
	if err != nil {
		return err
	}
	var lastKeys int
	streaming.ForeachBatch(counts, func(ctx context.Context, b *streaming.BatchData[streaming.KV[int64, int64]]) error {
		kvs, err := b.Collect(ctx)
		lastKeys = len(kvs)
		return err
	})
	got, took, err := r.run(want)
	if err != nil {
		return err
	}
	rate := float64(got) / took.Seconds()
	fmt.Printf("window: events=%d batches=%d keys=%d seconds=%.2f events/s=%.0f ratio=%.2f %s peakRSS=%s\n",
		got, r.batches.Load(), lastKeys, took.Seconds(), rate, rate/direct, r.checkpointBytes(), peakRSS())
	return nil
}
