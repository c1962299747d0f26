package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// eventTimeConfig is what the flags of -event-time say.
type eventTimeConfig struct {
	on     bool
	length time.Duration
	span   time.Duration
	mode   string
	source string
}

func (c *eventTimeConfig) flags() {
	flag.BoolVar(&c.on, "event-time", false, "then read the backlog again with ReduceByKeyAndEventTimeWindow and compare")
	flag.DurationVar(&c.length, "event-window", time.Minute, "with -event-time: the tumbling window's length")
	flag.DurationVar(&c.span, "event-span", 30*time.Minute, "the event times in the bodies: each partition's spread evenly over this")
	flag.StringVar(&c.mode, "event-mode", "append", "with -event-time: the output mode, append or update")
	flag.StringVar(&c.source, "event-source", "body", "with -event-time: the event time, body (the time the body begins with) or enqueued")
}

// check says which flag is wrong and what it takes.
func (c *eventTimeConfig) check() error {
	switch {
	case c.length <= 0:
		return fmt.Errorf("-event-window %s: give a positive length, say 1m", c.length)
	case c.span < 0:
		return fmt.Errorf("-event-span %s: give 0 (all events at one time) or more, say 30m", c.span)
	case c.mode != "append" && c.mode != "update":
		return fmt.Errorf("-event-mode %q: give append or update", c.mode)
	case c.source != "body" && c.source != "enqueued":
		return fmt.Errorf("-event-source %q: give body or enqueued", c.source)
	}
	return nil
}

// timeBase is the event time of each partition's first event.
var timeBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// timedBodies gives event i of perPartition a body that begins with its
// event time, in decimal Unix milliseconds, spread evenly over span from
// timeBase, and is padded to size bytes: with 'x' (pad "x"), or with a
// space then hex digits drawn at random (pad "hex"; the same for the same
// partition and event), which compress as little as a body's random part
// does.
func timedBodies(size, perPartition int, span time.Duration, pad string) func(part, i int) []byte {
	return func(part, i int) []byte {
		t := timeBase.Add(time.Duration(float64(span) * float64(i) / float64(max(perPartition, 1))))
		b := strconv.AppendInt(make([]byte, 0, size), t.UnixMilli(), 10)
		rng := rand.New(rand.NewPCG(uint64(part), uint64(i)))
		if pad == "hex" && len(b) < size {
			b = append(b, ' ') // the time's digits end here
		}
		for len(b) < size {
			if pad == "hex" {
				b = append(b, "0123456789abcdef"[rng.IntN(16)])
			} else {
				b = append(b, 'x')
			}
		}
		return b
	}
}

// bodyTime reads the event time timedBodies put at the start of e's
// body; a body without one counts in bad and gets the zero time.
func bodyTime(bad *atomic.Int64) func(e *eventhubs.Event) time.Time {
	return func(e *eventhubs.Event) time.Time {
		n := 0
		for n < len(e.Body) && e.Body[n] >= '0' && e.Body[n] <= '9' {
			n++
		}
		ms, err := strconv.ParseInt(string(e.Body[:n]), 10, 64)
		if err != nil {
			bad.Add(1)
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
}

// runEventTime reads the backlog again with ReduceByKeyAndEventTimeWindow
// and prints its rate against the plain stream's (direct). The window's
// state is checkpointed to a directory, or kept per partition in db.
func runEventTime(ctx context.Context, connStr string, want int64, c config, db *stateDB, direct phase) error {
	r, err := newTypedRun(connStr, c.rate, c.interval, db == nil)
	if err != nil {
		return err
	}
	defer r.close()
	var bad atomic.Int64
	eventTime := eventhubs.EnqueuedTime
	if c.eventTime.source == "body" {
		eventTime = bodyTime(&bad)
	}
	k := int64(c.keys)
	pair := func(e *eventhubs.Event) streaming.KV[int64, int64] {
		return streaming.KV[int64, int64]{Key: e.SequenceNumber % k, Value: 1}
	}
	w := streaming.EventTimeWindow{Length: c.eventTime.length, Mode: streaming.AppendMode}
	if c.eventTime.mode == "update" {
		w.Mode = streaming.UpdateMode
	}
	counts, err := streaming.ReduceByKeyAndEventTimeWindow(r.events, eventTime, pair, func(a, b int64) int64 { return a + b }, w)
	if err != nil {
		return err
	}
	var emitted int
	streaming.ForeachBatch(counts.Windows(), func(ctx context.Context, b *streaming.BatchData[streaming.WindowedKV[int64, int64]]) error {
		kvs, err := b.Collect(ctx)
		emitted += len(kvs)
		return err
	})
	costs, where := r.checkpointBytes, ""
	if db != nil {
		k, err := keepState(ctx, r, db, "streambench-event-time")
		if err != nil {
			return err
		}
		commitEach(k, counts.Windows())
		costs, where = k.report, " state="+db.name
	}
	ph, err := r.run(want)
	if err != nil {
		return err
	}
	if bad.Load() > 0 {
		return fmt.Errorf("%d events had no event time at the start of their body; the hub was not filled by this streambench", bad.Load())
	}
	st := counts.Stats()
	fmt.Printf("event-time (%s, %s, %s windows)%s: batches=%d emitted=%d late=%d stateWindows=%d %s %s %s peakRSS=%s\n",
		w.Mode, c.eventTime.source, w.Length, where, r.batches.Load(), emitted, st.Late, st.Windows, ph, ph.against(direct), costs(), peakRSS())
	return nil
}
