package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// runWindow reads the backlog again with ReduceByKeyAndWindow and prints
// its rate against the plain stream's (direct, events/s).
func runWindow(connStr string, want, rate int64, interval time.Duration, keys, windowBatches int, direct float64) error {
	// Reset the peak resident set, so that the one printed is this phase's.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		fmt.Fprintln(os.Stderr, "streambench: cannot reset the peak RSS:", err)
	}
	dir, err := os.MkdirTemp("", "streambench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ds, err := streaming.NewDirStore(dir)
	if err != nil {
		return err
	}
	store := &countingStore{d: ds}
	ssc, err := streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return err
	}
	ssc.Checkpoint(store)
	stream, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(connStr).SetMaxRatePerPartition(rate))
	if err != nil {
		return err
	}
	events, err := eventhubs.Events(stream)
	if err != nil {
		return err
	}
	k := int64(keys)
	pairs := streaming.Map(events, func(e *eventhubs.Event) streaming.KV[int64, int64] {
		return streaming.KV[int64, int64]{Key: e.SequenceNumber % k, Value: 1}
	})
	counts, err := streaming.ReduceByKeyAndWindow(pairs, func(a, b int64) int64 { return a + b }, nil,
		time.Duration(windowBatches)*interval, interval)
	if err != nil {
		return err
	}
	var got atomic.Int64
	var batches, lastKeys int64
	streaming.ForeachBatch(counts, func(ctx context.Context, b *streaming.BatchData[streaming.KV[int64, int64]]) error {
		batches++
		kvs, err := b.Collect(ctx)
		lastKeys = int64(len(kvs))
		return err
	})
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if got.Add(b.Events) >= want {
			ssc.Stop(true)
		}
	}))
	start := time.Now()
	if err := ssc.Run(context.Background()); err != nil {
		return err
	}
	took := time.Since(start)
	rate2 := float64(got.Load()) / took.Seconds()
	fmt.Printf("window: events=%d batches=%d keys=%d seconds=%.2f events/s=%.0f ratio=%.2f checkpointBytes/batch=%.0f (state %.0f, checkpoint.json %.0f) peakRSS=%s\n",
		got.Load(), batches, lastKeys, took.Seconds(), rate2, rate2/direct,
		float64(store.state.Load()+store.ck.Load())/float64(batches), float64(store.state.Load())/float64(batches),
		float64(store.ck.Load())/float64(batches), peakRSS())
	return nil
}

// countingStore is a DirStore that counts the bytes written.
type countingStore struct {
	d         *streaming.DirStore
	state, ck atomic.Int64
}

func (s *countingStore) Load(ctx context.Context) (*streaming.Checkpoint, error) {
	return s.d.Load(ctx)
}

func (s *countingStore) Save(ctx context.Context, c *streaming.Checkpoint) error {
	if b, err := json.MarshalIndent(c, "", "  "); err == nil {
		s.ck.Add(int64(len(b)) + 1)
	}
	return s.d.Save(ctx, c)
}

func (s *countingStore) WriteState(ctx context.Context, name string, b []byte) error {
	s.state.Add(int64(len(b)))
	return s.d.WriteState(ctx, name, b)
}

func (s *countingStore) ReadState(ctx context.Context, name string) ([]byte, error) {
	return s.d.ReadState(ctx, name)
}

func (s *countingStore) RemoveState(ctx context.Context, keep []string) error {
	return s.d.RemoveState(ctx, keep)
}
