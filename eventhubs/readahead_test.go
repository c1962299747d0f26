package eventhubs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// managementCalls is what the emulator's $management node has answered so
// far, of every kind.
func managementCalls(srv *emulator.Server) (hub, partition int64) {
	m := srv.Stats().ManagementRequests
	return m[emulator.ManagementHub], m[emulator.ManagementPartition]
}

// callCounter notes the emulator's management calls when given batches of
// a stream complete.
type callCounter struct {
	srv     *emulator.Server
	mu      sync.Mutex
	batches int
	marks   map[int][2]int64 // batch → hub and partition calls when it completed
}

// countCalls notes the calls when batches marks complete.
func countCalls(ssc *streaming.Context, srv *emulator.Server, marks ...int) *callCounter {
	c := &callCounter{srv: srv, marks: map[int][2]int64{}}
	ssc.AddListener(streaming.ListenerFunc(func(streaming.BatchInfo) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.batches++
		if slices.Contains(marks, c.batches) {
			hub, part := managementCalls(srv)
			c.marks[c.batches] = [2]int64{hub, part}
		}
	}))
	return c
}

// after is a condition for waitFor: n batches completed.
func (c *callCounter) after(n int) func() bool {
	return func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.batches >= n }
}

// at is the hub's and partitions' calls when batch n completed.
func (c *callCounter) at(n int) (hub, partition int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marks[n][0], c.marks[n][1]
}

// With read-ahead, a stream's batches plan from what the receivers
// received: idle, and while events flow, no partition's properties are
// asked for, and the hub's only before events are planned; every event is
// still read once, in order, in ranges that chain, at most the rate per
// batch.
func TestReadAheadPlansWithoutManagementCalls(t *testing.T) {
	const parts, perPartition, rate = 8, 300, 100
	srv := startEmulator(t, emulator.HubConfig{Name: "ahead", PartitionCount: parts})
	ctx := testCtx(t, 90*time.Second)
	ssc := newSSC(t, 20*time.Millisecond)
	conf := testConf(srv, "ahead").SetReadAhead(1 << 20).SetHubRefreshInterval(time.Hour).SetMaxRatePerPartition(rate)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	log := newStreamLog()
	ds.ForeachRDD(log.output)
	calls := countCalls(ssc, srv, 1, 0)
	ssc.AddListener(log)
	done := runSSC(t, ctx, ssc)
	waitFor(t, 30*time.Second, "10 idle batches", calls.after(10))
	for p := range parts {
		fill(t, ctx, srv, "ahead", string(rune('0'+p)), 0, perPartition)
	}
	waitFor(t, 30*time.Second, "every event read", func() bool { return log.count() == parts*perPartition })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	hub, part := managementCalls(srv)
	hub0, part0 := calls.at(1)
	if part != part0 {
		t.Errorf("after the first batch the stream asked for partitions' properties %d times, want none", part-part0)
	}
	// The hub's properties are read before events are planned (a hub
	// created again must show), never in an idle batch.
	var reading int64
	for _, b := range log.batches[1:] {
		if b.Events > 0 {
			reading++
		}
	}
	if hub-hub0 > reading {
		t.Errorf("after the first batch the stream read the hub's properties %d times in %d batches that read events, want at most one each", hub-hub0, reading)
	}
	for p := range parts {
		log.checkExactlyOnce(t, string(rune('0'+p)), perPartition)
	}
	for _, b := range log.batches {
		for _, r := range b.Ranges {
			if r.Count() > rate {
				t.Errorf("batch %d read %s: more than the rate, %d", b.Number, r, rate)
			}
		}
	}
}

// A stream with read-ahead reads the hub's properties again every
// HubRefreshInterval, not every batch.
func TestReadAheadRefreshesHub(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "refresh", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	ssc := newSSC(t, 10*time.Millisecond)
	conf := testConf(srv, "refresh").SetReadAhead(1 << 20).SetHubRefreshInterval(200 * time.Millisecond)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(context.Context, *eventhubs.RDD) error { return nil })
	calls := countCalls(ssc, srv, 1, 61)
	done := runSSC(t, ctx, ssc)
	waitFor(t, 30*time.Second, "61 batches", calls.after(61))
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	// 60 batches of 10 ms or more take at least 600 ms: the hub is read
	// at least twice, and far less often than every batch.
	hub0, _ := calls.at(1)
	hub1, _ := calls.at(61)
	if n := hub1 - hub0; n < 2 || n > 20 {
		t.Errorf("the hub's properties were read %d times in 60 batches, want about one every 200 ms (2 to 20)", n)
	}
}

// A read-ahead placed at the stream's position whose first event lies
// above it saw retention remove events: with FailOnDataLoss the plan fails
// with the same error as when asked for the partition's bounds, and it
// found that out without asking.
func TestReadAheadFindsDataLoss(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "gone", PartitionCount: 1, Retention: 2 * time.Second})
	ctx := testCtx(t, 90*time.Second)
	ssc := newSSC(t, 20*time.Millisecond)
	// One byte: each read-ahead stops after one event, so that retention
	// removes the next ones before a receiver gets them.
	conf := testConf(srv, "gone").SetReadAhead(1).SetHubRefreshInterval(time.Hour).SetMaxRatePerPartition(1)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	var mark int64 = -1
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		if rdd.Count() == 0 || mark >= 0 {
			return nil
		}
		if _, err := rdd.Collect(ctx); err != nil {
			return err
		}
		waitFor(t, 30*time.Second, "retention to remove events 0 to 4", func() bool {
			hp, err := eventhubs.DescribeHub(ctx, testConf(srv, "gone"))
			return err == nil && hp.Partitions[0].First == 5
		})
		fill(t, ctx, srv, "gone", "0", 5, 3)
		_, mark = managementCalls(srv)
		return nil
	})
	done := runSSC(t, ctx, ssc)
	waitFor(t, 30*time.Second, "the stream to start", countCalls(ssc, srv).after(2))
	fill(t, ctx, srv, "gone", "0", 0, 5)
	err = waitRun(t, done)
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeDataLoss {
		t.Fatalf("Run = %v, want a %s error", err, eventhubs.CodeDataLoss)
	}
	for _, want := range []string{"wanted sequence number 1", "first available is 5", "4 events are gone (retention)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if _, part := managementCalls(srv); part != mark {
		t.Errorf("the stream asked for a partition's bounds %d times after the loss, want none: the read-ahead shows it", part-mark)
	}
}

// A read-ahead that holds its bytes has stopped receiving: what arrived
// past it shows only when the partition is asked for its bounds, which the
// stream does for such partitions on the hub's refresh. Without it a
// backlog's lag would read as the read-ahead's buffer, and batches would
// plan no further than it.
func TestReadAheadFullAsksOnRefresh(t *testing.T) {
	const backlog, rate = 5000, 50
	srv := startEmulator(t, emulator.HubConfig{Name: "full", PartitionCount: 1})
	ctx := testCtx(t, 90*time.Second)
	ssc := newSSC(t, 20*time.Millisecond)
	conf := testConf(srv, "full").SetReadAhead(4096).SetHubRefreshInterval(100 * time.Millisecond).SetMaxRatePerPartition(rate)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	log := newStreamLog()
	ds.ForeachRDD(log.output)
	var mu sync.Mutex
	var maxLag, maxRange int64
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		mu.Lock()
		defer mu.Unlock()
		for i, r := range b.Ranges {
			maxLag, maxRange = max(maxLag, b.Lag[i]), max(maxRange, r.Count())
		}
	}))
	calls := countCalls(ssc, srv)
	done := runSSC(t, ctx, ssc)
	waitFor(t, 30*time.Second, "5 idle batches", calls.after(5))
	fill(t, ctx, srv, "full", "0", 0, backlog)
	waitFor(t, 30*time.Second, "a lag of most of the backlog", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return maxLag >= backlog/2
	})
	ssc.Stop(false)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	if maxRange > rate {
		t.Errorf("a batch read %d events, more than the rate %d", maxRange, rate)
	}
}

// ReadAheadBytes shows what the read-aheads hold while a backlog waits
// for its batches, from any goroutine, and nothing once the stream
// stopped.
func TestReadAheadBytes(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "held", PartitionCount: 1})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "held", "0", 0, 3000)
	ssc := newSSC(t, 50*time.Millisecond)
	conf := testConf(srv, "held").SetReadAhead(64 << 10).SetMaxRatePerPartition(10)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { _, err := rdd.Collect(ctx); return err })
	if n := ds.ReadAheadBytes(); n != 0 {
		t.Errorf("before the stream runs ReadAheadBytes = %d, want 0", n)
	}
	done := runSSC(t, ctx, ssc)
	waitFor(t, 30*time.Second, "the read-ahead to hold events", func() bool { return ds.ReadAheadBytes() >= 64<<10 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	if n := ds.ReadAheadBytes(); n != 0 {
		t.Errorf("after the stream stopped ReadAheadBytes = %d, want 0", n)
	}
}
