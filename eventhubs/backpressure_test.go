package eventhubs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/countstream"
	"github.com/ehstream/ehstream/streaming"
)

// An output that costs 1 ms per event, 200 ms batches, and a backlog that
// the per-partition maximum (400 events per batch from each of 2
// partitions: 800 ms of output per 200 ms batch) lets in far faster than
// the output can take. Without backpressure the scheduling delay grows by
// about 600 ms each batch. With it, the rate settles where batches finish
// within the interval: after 20 batches the delay stays under 2 intervals,
// and the stream writes at least 80% of what the output can (1,000
// events/s, so at least 800).
func TestBackpressure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two streams of several seconds each")
	}
	const (
		interval     = 200 * time.Millisecond
		costPerEvent = time.Millisecond
		partitions   = 2
		maxRate      = 400
		backlog      = 5000 // per partition: more than either run reads
	)
	capacity := float64(time.Second / costPerEvent) // events/s the output can take
	srv := startEmulator(t, emulator.HubConfig{Name: "bp", PartitionCount: partitions, ConsumerGroups: []string{"without", "with"}})
	ctx := testCtx(t, 60*time.Second)
	for p := range partitions {
		fill(t, ctx, srv, "bp", fmt.Sprint(p), 0, backlog)
	}

	// run streams until batches batches completed, and returns their
	// records.
	run := func(t *testing.T, conf *eventhubs.Conf, batches int64) []streaming.BatchInfo {
		ssc, err := streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := eventhubs.CreateDirectStream(ssc, conf.SetMaxRatePerPartition(maxRate).SetReceiverTimeout(5*time.Second).SetOperationTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
			start := time.Now()
			n, err := countstream.Count(ctx, rdd)
			if err != nil {
				return err
			}
			// The output's work: 1 ms per event, whatever reading took.
			work := time.NewTimer(time.Until(start.Add(time.Duration(n) * costPerEvent)))
			defer work.Stop()
			select {
			case <-work.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		var infos []streaming.BatchInfo
		ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
			infos = append(infos, b)
			if b.Number >= batches {
				ssc.Stop(true)
			}
		}))
		if err := ssc.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if int64(len(infos)) != batches {
			t.Fatalf("%d batches completed, want %d", len(infos), batches)
		}
		return infos
	}
	table := func(infos []streaming.BatchInfo) string {
		var b strings.Builder
		for _, i := range infos {
			fmt.Fprintf(&b, "\n  batch %2d: %4d events, rate %5d/s, delay %6s, took %6s", i.Number, i.Events, i.Rate,
				i.SchedulingDelay.Round(time.Millisecond), i.ProcessingTime.Round(time.Millisecond))
		}
		return b.String()
	}

	t.Run("without", func(t *testing.T) {
		infos := run(t, eventhubs.NewConf(srv.ConnectionString("bp")).SetConsumerGroup("without"), 7)
		t.Log(table(infos))
		for i := 1; i < len(infos); i++ {
			if b := infos[i]; b.SchedulingDelay < infos[i-1].SchedulingDelay+interval || b.Rate != 0 {
				t.Errorf("batch %d: delay %s after %s, rate %d: want the delay to grow by more than an interval each batch, and no rate", b.Number,
					b.SchedulingDelay.Round(time.Millisecond), infos[i-1].SchedulingDelay.Round(time.Millisecond), b.Rate)
			}
		}
	})

	t.Run("with", func(t *testing.T) {
		infos := run(t, eventhubs.NewConf(srv.ConnectionString("bp")).SetConsumerGroup("with").SetBackpressure(true), 25)
		t.Log(table(infos))
		// The first two batches read at the maximum (the estimator's first
		// batch only measures); every later one at the rate in force.
		for _, b := range infos {
			if limited := b.Number > 2; limited != (b.Rate > 0) || b.Rate > 0 && b.Events > b.Rate*int64(interval)/int64(time.Second)+partitions {
				t.Errorf("batch %d: %d events at rate %d/s: want a rate from batch 3 on, and no more events than it allows", b.Number, b.Events, b.Rate)
			}
		}
		for _, b := range infos[20:] {
			if b.SchedulingDelay >= 2*interval {
				t.Errorf("batch %d started %s late: want under 2 intervals (%s) after 20 batches", b.Number, b.SchedulingDelay.Round(time.Millisecond), 2*interval)
			}
		}
		// Throughput of batches 11 to 25: their events over the time from
		// the end of batch 10 to the end of batch 25.
		end := func(b streaming.BatchInfo) time.Time { return b.Time.Add(b.SchedulingDelay + b.ProcessingTime) }
		var events int64
		for _, b := range infos[10:] {
			events += b.Events
		}
		took := end(infos[len(infos)-1]).Sub(end(infos[9]))
		rate := float64(events) / took.Seconds()
		t.Logf("batches 11-25: %d events in %s: %.0f events/s, %.0f%% of the output's %.0f", events, took.Round(time.Millisecond), rate, 100*rate/capacity, capacity)
		if rate < 0.8*capacity {
			t.Errorf("batches 11-25 wrote %.0f events/s, want at least 80%% of the output's %.0f", rate, capacity)
		}
	})
}
