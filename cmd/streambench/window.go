package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// runWindow reads the backlog again with ReduceByKeyAndWindow and prints
// its rate against the plain stream's (direct).
func runWindow(connStr string, want int64, c config, direct phase) error {
	r, err := newTypedRun(connStr, c.rate, c.interval, true)
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
	ph, err := r.run(want)
	if err != nil {
		return err
	}
	fmt.Printf("window: batches=%d keys=%d %s %s %s peakRSS=%s\n",
		r.batches.Load(), lastKeys, ph, ph.against(direct), r.checkpointBytes(), peakRSS())
	return nil
}
