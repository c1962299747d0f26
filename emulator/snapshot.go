package emulator

import (
	"slices"
	"strings"
	"time"
)

// Snapshot is what the emulator holds and who reads it, at one moment:
// hubs, their partitions with their bounds, sizes and traffic, and their
// consumer groups with the readers attached now. Each partition is read
// on its own, so two partitions may be a moment apart.
type Snapshot struct {
	Time      time.Time // when it was taken
	Started   time.Time // when the server started
	Namespace string
	Addr      string // the AMQP address, host:port
	DataDir   string // "" in memory
	Hubs      []HubSnapshot
}

// HubSnapshot is one hub in a Snapshot.
type HubSnapshot struct {
	Name           string
	CreatedAt      time.Time
	Retention      time.Duration // 0 keeps events forever
	MaxEventSize   int
	Partitions     []PartitionSnapshot // by ID
	ConsumerGroups []GroupSnapshot     // by name, every group, with readers or not
}

// PartitionSnapshot is one partition in a Snapshot. The sequence numbers
// are those the service reports in the partition's properties.
type PartitionSnapshot struct {
	ID string
	// FirstSequenceNumber is the first available (retention moves it);
	// LastSequenceNumber the last enqueued, FirstSequenceNumber-1 when
	// Empty.
	FirstSequenceNumber int64
	LastSequenceNumber  int64
	Empty               bool
	// LastOffset and LastEnqueuedTime are those of the newest event ever
	// enqueued, even when retention removed it: -1 and the zero time when
	// there was none.
	LastOffset       int64
	LastEnqueuedTime time.Time
	// Bytes is the size of the partition's log: its segment files on disk,
	// or the events still available in memory.
	Bytes int64
	// Traffic since the server started: events stored from producers and
	// delivered to consumers (every group and reader), and the bytes of
	// their bodies.
	EventsIn, BytesIn, EventsOut, BytesOut int64
}

// GroupSnapshot is one consumer group of a hub in a Snapshot.
type GroupSnapshot struct {
	Name    string
	Readers []ReaderSnapshot // by partition, then by when they attached
}

// ReaderSnapshot is one receiving link attached to a partition.
type ReaderSnapshot struct {
	Partition string
	// Name is the receiver's name, as the client gave it
	// (com.microsoft:receiver-name); "" when it gave none.
	Name string
	// OwnerLevel is the reader's owner level (epoch); nil when it has
	// none.
	OwnerLevel *int64
	Client     string // the client's address
	Attached   time.Time
	Delivered  int64 // events delivered on the link
	// NextSequenceNumber is the next event the link will deliver, as of
	// its last delivery.
	NextSequenceNumber int64
}

// Snapshot returns what the server holds and who reads it now.
func (s *Server) Snapshot() Snapshot {
	out := Snapshot{Time: time.Now(), Started: s.started, Namespace: s.cfg.Namespace, Addr: s.Addr(), DataDir: s.cfg.DataDir,
		Hubs: make([]HubSnapshot, 0, len(s.hubList))}
	for _, h := range s.hubList {
		out.Hubs = append(out.Hubs, h.snapshot())
	}
	return out
}

func (h *hub) snapshot() HubSnapshot {
	hs := HubSnapshot{Name: h.cfg.Name, CreatedAt: h.createdAt, Retention: h.cfg.Retention, MaxEventSize: h.cfg.MaxEventSize,
		Partitions: make([]PartitionSnapshot, 0, len(h.partitions))}
	keys := make([]string, 0, len(h.groups))
	for k := range h.groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(h.groups[a], h.groups[b]) })
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
		hs.ConsumerGroups = append(hs.ConsumerGroups, GroupSnapshot{Name: h.groups[k]})
	}
	for _, p := range h.partitions {
		hs.Partitions = append(hs.Partitions, p.snapshot())
		for group, readers := range p.readerSnapshots() {
			i, ok := index[group]
			if !ok {
				continue
			}
			hs.ConsumerGroups[i].Readers = append(hs.ConsumerGroups[i].Readers, readers...)
		}
	}
	return hs
}

func (p *partition) snapshot() PartitionSnapshot {
	begin, next := p.log.Bounds()
	ps := PartitionSnapshot{
		ID:                  p.id,
		FirstSequenceNumber: begin,
		LastSequenceNumber:  next - 1,
		Empty:               begin == next,
		LastOffset:          -1,
		Bytes:               p.log.Size(),
		EventsIn:            p.counters.eventsIn.Load(),
		BytesIn:             p.counters.bytesIn.Load(),
		EventsOut:           p.counters.eventsOut.Load(),
		BytesOut:            p.counters.bytesOut.Load(),
	}
	if last, ok := p.log.Last(); ok {
		ps.LastOffset, ps.LastEnqueuedTime = last.Offset, last.EnqueuedTime
	}
	return ps
}

// readerSnapshots lists the partition's readers by group (lower-case), each
// group's by when they attached.
func (p *partition) readerSnapshots() map[string][]ReaderSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]ReaderSnapshot, len(p.readers))
	for group, consumers := range p.readers {
		if len(consumers) == 0 {
			continue
		}
		rs := make([]ReaderSnapshot, 0, len(consumers))
		for cl := range consumers {
			r := ReaderSnapshot{Partition: p.id, Name: cl.name, Client: cl.s.c.nc.RemoteAddr().String(), Attached: cl.attached,
				Delivered: cl.delivered.Load(), NextSequenceNumber: cl.position.Load()}
			if cl.epoch != nil {
				level := *cl.epoch
				r.OwnerLevel = &level
			}
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(a, b ReaderSnapshot) int { return a.Attached.Compare(b.Attached) })
		out[group] = rs
	}
	return out
}
