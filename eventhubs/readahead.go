package eventhubs

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

const (
	// DefaultReadAhead is ReadAhead's default: 1 MiB per partition.
	DefaultReadAhead = 1 << 20
	// DefaultReadAheadTotal is ReadAheadTotal's default: 256 MiB.
	DefaultReadAheadTotal = 256 << 20
	// DefaultHubRefreshInterval is HubRefreshInterval's default.
	DefaultHubRefreshInterval = time.Second
)

// SetReadAhead makes a direct stream keep each partition's receiver
// reading between batches, into a buffer of at most bytes per partition
// (default DefaultReadAhead, 1 MiB; 0 turns it off: each batch then asks
// the hub for every partition's bounds), and plan each batch from what arrived:
// a partition whose events flow, or that is idle, then costs the batch no
// management call (the hub's properties are read every
// HubRefreshInterval), and its range ends at the last event received,
// capped by the rate limits. A partition whose receiver cannot tell (no
// link yet, a failed one) is asked for its bounds, as without read-ahead.
// The buffer holds at most one receive (Prefetch) more than bytes; an
// event counts as what it holds on the heap: its body plus about 1 KiB,
// more with properties.
func (c *Conf) SetReadAhead(bytesPerPartition int64) *Conf { c.readAhead = bytesPerPartition; return c }

// ReadAhead is the read-ahead's bytes per partition; 0 when off.
func (c *Conf) ReadAhead() int64 { return c.readAhead }

// SetReadAheadTotal bounds the bytes the read-ahead of all of a stream's
// partitions holds (default DefaultReadAheadTotal, 256 MiB): a partition's
// read-ahead stops receiving while the total is reached.
func (c *Conf) SetReadAheadTotal(bytes int64) *Conf { c.readAheadTotal = bytes; return c }

// ReadAheadTotal is the bound of all partitions' read-ahead, in bytes.
func (c *Conf) ReadAheadTotal() int64 { return c.readAheadTotal }

// SetHubRefreshInterval sets how often a stream with read-ahead reads the
// hub's properties, which show partitions the hub added and a hub deleted
// and created again (default DefaultHubRefreshInterval, 1 s; 0: every
// batch).
func (c *Conf) SetHubRefreshInterval(d time.Duration) *Conf { c.hubRefresh = d; return c }

// HubRefreshInterval is how often a stream with read-ahead reads the hub's
// properties.
func (c *Conf) HubRefreshInterval() time.Duration { return c.hubRefresh }

// ReadAheadBytes is what the read-aheads of the stream's connection hold
// now (SetReadAhead), counted as SetReadAheadTotal counts it: events
// received and not yet taken by a batch. Streams with the same connection
// string and options share a connection, and their read-aheads count
// together. 0 while the stream does not run. Safe to call from any
// goroutine (a metrics scrape).
func (s *DirectStream) ReadAheadBytes() int64 {
	if n := s.aheadBytes.Load(); n != nil {
		return n.Load()
	}
	return 0
}

// aheadGather is how long the read-ahead, woken by an event, waits for
// more to come with it before it shows them to the planner.
const aheadGather = 5 * time.Millisecond

// What a received event holds on the heap beyond its body, as measured
// (TestEventBytesIsWhatAnEventHolds): the SDK's event and its AMQP message
// (eventOverhead), and, with properties, their two maps (propertiesOverhead)
// and each entry (propertyOverhead plus its key's and a text or binary
// value's bytes).
const (
	eventOverhead      = 1152
	propertiesOverhead = 640
	propertyOverhead   = 48
)

// readAhead is a partition's link lent between reads (doc.go, Lock
// order): a goroutine receives on it into a bounded buffer, for the
// planner to see what arrived and the next read to hand out.
type readAhead struct {
	c      *client // whose aheadBytes count the buffer
	cancel context.CancelFunc
	done   chan struct{}
	at     int64 // the sequence number the link stood at when lent

	mu     sync.Mutex
	events []*azeventhubs.ReceivedEventData
	bytes  int64
	err    error // the receive that ended it failed
	filled bool  // it stopped on its bound: more may have arrived than it holds
}

// arrival is what a partition's read-ahead has received.
type arrival struct {
	at    int64 // the link's position when lent
	first int64 // the first event's sequence number; end when none
	end   int64 // the last one's + 1; at when none
	// filled says the read-ahead stopped on its bound: the partition may
	// hold more than end.
	filled bool
	// lastOffset and lastEnqueued are the last event's, when one came.
	lastOffset   string
	lastEnqueued time.Time
}

// bounds is what the partition is known to hold from the arrival.
func (a arrival) bounds(id string) PartitionBounds {
	return PartitionBounds{PartitionID: id, First: a.first, End: a.end, LastOffset: a.lastOffset, LastEnqueued: a.lastEnqueued}
}

// lend starts the read-ahead of each partition of ids whose receiver has a
// link, idle, with nothing pending: the stream's own partitions, after a
// read or a hold left them where the stream stands.
func (c *client) lend(conf *Conf, ids []string) {
	if conf.ReadAhead() <= 0 {
		return
	}
	for _, id := range ids {
		c.tryReceiver(id, func(r *receiver) {
			if r.pc != nil && r.next >= 0 && len(r.pending) == 0 && r.linkErr == nil && r.ahead.Load() == nil {
				r.startAhead(c, conf)
			}
		})
	}
}

// startAhead lends the link to a new read-ahead, which takes the ready
// events the last read left; the holder of the slot calls it.
func (r *receiver) startAhead(c *client, conf *Conf) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &readAhead{c: c, cancel: cancel, done: make(chan struct{}), at: r.next, events: r.takeReady()}
	for _, e := range a.events {
		a.bytes += eventBytes(e)
	}
	c.aheadBytes.Add(a.bytes)
	r.ahead.Store(a)
	go a.run(ctx, conf, r.pc, receiveCount(conf, r.partitionID))
}

// takeReady takes the ready events in an array of their own: the array
// ready is part of holds the events reads handed out before them, which
// would live on with it while a read-ahead appends to it.
func (r *receiver) takeReady() []*azeventhubs.ReceivedEventData {
	out := slices.Clone(r.ready)
	r.ready = nil
	return out
}

// run receives until stopped, full, or failed: idle, one event at a time
// with no deadline (a taken link fails it at once); woken, what came
// with it.
func (a *readAhead) run(ctx context.Context, conf *Conf, pc *azeventhubs.PartitionClient, chunk int) {
	defer close(a.done)
	gather := false
	for !a.full(conf) {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		n := 1
		if gather {
			rctx, cancel = context.WithTimeout(ctx, aheadGather)
			n = chunk
		}
		evs, err := pc.ReceiveEvents(rctx, n, nil)
		cancel()
		a.add(evs)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			a.mu.Lock()
			a.err = err
			a.mu.Unlock()
			return
		}
		gather = len(evs) > 0
	}
	a.mu.Lock()
	a.filled = true
	a.mu.Unlock()
}

// full says the read-ahead holds its bytes, or all of them hold the
// total.
func (a *readAhead) full(conf *Conf) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bytes >= conf.ReadAhead() || a.c.aheadBytes.Load() >= conf.ReadAheadTotal()
}

func (a *readAhead) add(evs []*azeventhubs.ReceivedEventData) {
	var n int64
	for _, e := range evs {
		n += eventBytes(e)
	}
	a.mu.Lock()
	a.events = append(a.events, evs...)
	a.bytes += n
	a.mu.Unlock()
	a.c.aheadBytes.Add(n)
}

func eventBytes(e *azeventhubs.ReceivedEventData) int64 {
	n := len(e.Body) + eventOverhead
	if len(e.Properties) > 0 {
		n += propertiesOverhead
	}
	for k, v := range e.Properties {
		n += propertyOverhead + len(k)
		switch v := v.(type) {
		case string:
			n += len(v)
		case []byte:
			n += len(v)
		}
	}
	return int64(n)
}

// stopAhead takes the link back from the read-ahead, if one has it: its
// events become ready, handed out first, or, when its receive failed, the
// link's next receive fails as it did. The holder of the slot calls it.
func (r *receiver) stopAhead() {
	a := r.ahead.Swap(nil)
	if a == nil {
		return
	}
	a.cancel()
	<-a.done
	a.c.aheadBytes.Add(-a.bytes)
	if a.err != nil {
		r.linkErr = a.err // what it received is dropped with the link
		return
	}
	r.ready = a.events
}

// arrived is what partition id's read-ahead received, when one reads the
// link and has not failed.
func (c *client) arrived(id string) (arrival, bool) {
	c.mu.Lock()
	r := c.receivers[id]
	c.mu.Unlock()
	if r == nil {
		return arrival{}, false
	}
	a := r.ahead.Load()
	if a == nil {
		return arrival{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return arrival{}, false
	}
	if len(a.events) == 0 {
		return arrival{at: a.at, first: a.at, end: a.at, filled: a.filled}, true
	}
	last := a.events[len(a.events)-1]
	out := arrival{at: a.at, first: a.events[0].SequenceNumber, end: last.SequenceNumber + 1, lastOffset: last.Offset, filled: a.filled}
	if last.EnqueuedTime != nil {
		out.lastEnqueued = last.EnqueuedTime.UTC()
	}
	return out, true
}

// reading says whether partition id's read-ahead reads its link: it is
// checked as a hold would, by the receive it waits in.
func (c *client) reading(id string) bool {
	_, ok := c.arrived(id)
	return ok
}
