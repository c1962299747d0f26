package emulator

// What the emulator counts for metrics, without a metrics library: atomic
// counters on the paths that do the work, read by Stats and Snapshot. A
// scraper (package emulatorhttp serves them for Prometheus) turns them
// into whatever it exports.
//
// Per event, the paths add to counters they hold already: a producer or
// consumer link has its partition, so nothing is looked up, and nothing
// is locked, per event.

import (
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// LinkKind says what an attached link is for, from the client's side.
type LinkKind string

const (
	LinkSender     LinkKind = "sender"     // the client sends events (a producer)
	LinkReceiver   LinkKind = "receiver"   // the client receives events (a consumer)
	LinkManagement LinkKind = "management" // requests to $management or their replies
	LinkCBS        LinkKind = "cbs"        // tokens put on $cbs, or the replies
)

// LinkKinds lists every kind of link.
var LinkKinds = []LinkKind{LinkSender, LinkReceiver, LinkManagement, LinkCBS}

// linkKind indexes serverStats.openLinks; linkNone is a refused link,
// which is not counted.
type linkKind int

const (
	linkNone linkKind = iota
	linkSender
	linkReceiver
	linkManagement
	linkCBS
	numLinkKinds
)

var linkKindNames = [numLinkKinds]LinkKind{"", LinkSender, LinkReceiver, LinkManagement, LinkCBS}

func nodeKind(node string) linkKind {
	if node == "$cbs" {
		return linkCBS
	}
	return linkManagement
}

// linkOpened and linkClosed keep the count of open links by kind; the
// reader goroutine calls them when a link is added to or removed from a
// session.
func (s *Server) linkOpened(k linkKind) {
	if k != linkNone {
		s.stats.openLinks[k].Add(1)
	}
}

func (s *Server) linkClosed(k linkKind) {
	if k != linkNone {
		s.stats.openLinks[k].Add(-1)
	}
}

func (s *Server) openLinks() map[LinkKind]int64 {
	out := make(map[LinkKind]int64, len(LinkKinds))
	for k := linkSender; k < numLinkKinds; k++ {
		out[linkKindNames[k]] = s.stats.openLinks[k].Load()
	}
	return out
}

// ManagementOp is what a $management request asked for.
type ManagementOp string

const (
	ManagementHub       ManagementOp = "hub"       // a hub's properties (type com.microsoft:eventhub)
	ManagementPartition ManagementOp = "partition" // a partition's properties (type com.microsoft:partition)
	ManagementOther     ManagementOp = "other"     // anything else, refused
)

// ManagementOps lists every ManagementOp.
var ManagementOps = []ManagementOp{ManagementHub, ManagementPartition, ManagementOther}

// managementOp indexes serverStats.management.
type managementOp int

const (
	mgmtHub managementOp = iota
	mgmtPartition
	mgmtOther
	numManagementOps
)

// countManagement counts one $management request by what it asked for,
// whether it is answered or refused: the planning of a stream is judged
// by the calls it makes per batch.
func (s *Server) countManagement(req *amqp.Message) {
	op := mgmtOther
	if appProp(req, "operation") == "READ" {
		switch appProp(req, "type") {
		case "com.microsoft:eventhub":
			op = mgmtHub
		case "com.microsoft:partition":
			op = mgmtPartition
		}
	}
	s.stats.management[op].Add(1)
}

func (s *Server) managementRequests() map[ManagementOp]int64 {
	out := make(map[ManagementOp]int64, numManagementOps)
	for op := range numManagementOps {
		out[ManagementOps[op]] = s.stats.management[op].Load()
	}
	return out
}

// partCounters counts a partition's traffic. Bytes are those of event
// bodies (the contents of their Data sections), as a client sends and
// receives them.
type partCounters struct {
	eventsIn, bytesIn   atomic.Int64 // stored from producers
	eventsOut, bytesOut atomic.Int64 // delivered to consumers, every group and reader
}

// fsyncBounds are the upper bounds of the fsync latency histogram's
// buckets (Stats.Fsync); a last bucket takes everything above them.
var fsyncBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram is a snapshot of a latency histogram.
type Histogram struct {
	Count   uint64        // observations
	Sum     time.Duration // of the observations
	Buckets []Bucket      // by upper bound, ascending; counts are cumulative
}

// Bucket is one bucket of a Histogram: how many observations were at most
// UpperBound.
type Bucket struct {
	UpperBound time.Duration
	Count      uint64
}

// latencyHistogram counts observations into fsyncBounds without a lock.
type latencyHistogram struct {
	counts [len(fsyncBounds) + 1]atomic.Uint64 // the last for above them
	sum    atomic.Int64                        // nanoseconds
}

func (h *latencyHistogram) observe(d time.Duration) {
	i := 0
	for i < len(fsyncBounds) && d > fsyncBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// snapshot reads the buckets one by one: an observation made meanwhile
// may be in Sum and not in a bucket, but Count is always the sum of the
// buckets, so the snapshot is a valid histogram.
func (h *latencyHistogram) snapshot() Histogram {
	out := Histogram{Buckets: make([]Bucket, len(fsyncBounds))}
	var cum uint64
	for i := range fsyncBounds {
		cum += h.counts[i].Load()
		out.Buckets[i] = Bucket{UpperBound: fsyncBounds[i], Count: cum}
	}
	out.Count = cum + h.counts[len(fsyncBounds)].Load()
	out.Sum = time.Duration(h.sum.Load())
	return out
}
