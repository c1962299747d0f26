// Package countstream is the no-op baseline of the benchmarks: a direct
// stream whose output reads every event and only counts it. It imports
// nothing of package testing.
package countstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// Count reads every event of rdd, one goroutine per partition, and
// returns how many it read.
func Count(ctx context.Context, rdd *eventhubs.RDD) (int64, error) {
	var n atomic.Int64
	err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		var got int64
		for _, err := range p.Events() {
			if err != nil {
				return err
			}
			got++
		}
		n.Add(got)
		return nil
	})
	return n.Load(), err
}

// Result is what Run read.
type Result struct {
	Events  int64
	Batches int64
}

// Run streams conf's hub in batches due every interval, counting the
// events, until it has read want of them; then it stops after that batch.
// Reading more or fewer than want is an error.
func Run(ctx context.Context, conf *eventhubs.Conf, interval time.Duration, want int64) (Result, error) {
	ssc, err := streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return Result{}, err
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return Result{}, err
	}
	var res Result
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		res.Batches++
		n, err := Count(ctx, rdd)
		res.Events += n
		if res.Events >= want {
			ssc.Stop(true)
		}
		return err
	})
	if err := ssc.Run(ctx); err != nil {
		return res, err
	}
	if res.Events != want {
		return res, fmt.Errorf("countstream: read %d events, want %d", res.Events, want)
	}
	return res, nil
}
