package emulator

import (
	"fmt"
	"net"

	"github.com/ehstream/ehstream/emulator/amqp"
	"github.com/ehstream/ehstream/emulator/kafka"
)

// FaultKind names what a fault does. What one of its Hits is depends on
// the kind: each constant says.
type FaultKind string

const (
	// FaultServerBusy refuses sends (to Hub and Partition, when given) with
	// com.microsoft:server-busy for Duration: each delivery gets a
	// rejected disposition and nothing is stored. The official SDKs retry
	// it. A hit is a send refused. Kafka produces are held instead, as the
	// service holds a throttled Kafka produce: until the fault ends (the
	// answer's throttle time says how long), or past the request's timeout
	// refused with POLICY_VIOLATION; a hit is a produce to a partition
	// found throttled.
	FaultServerBusy FaultKind = "server-busy"
	// FaultDetachReceivers detaches every receiving link of Partition of
	// Hub (every partition when Partition is "", every hub when Hub is "")
	// once, with the error Condition (default amqp:link:detach-forced,
	// which the SDKs answer with a new link where the old one stopped).
	// A hit is a link detached.
	FaultDetachReceivers FaultKind = "detach-receivers"
	// FaultDropConnections resets every connection once, AMQP and Kafka,
	// abruptly: a TCP reset, no close performative. The SDKs and Kafka
	// clients reconnect. A hit is a connection reset.
	FaultDropConnections FaultKind = "drop-connections"
	// FaultDelayFrames makes every write of AMQP frames on every
	// connection, and of every Kafka response, wait Delay first, for
	// Duration. A connection's writes
	// are in order, so they are then at least Delay apart. A hit is a
	// write delayed; of several delay-frames faults in effect, the longest
	// delay is the one a write waits out, and is counted.
	FaultDelayFrames FaultKind = "delay-frames"
	// FaultPausePartition stops deliveries from Partition of Hub (every
	// partition when Partition is "", every hub when Hub is "") for
	// Duration. Links stay attached and keep their credit; sends are
	// stored as usual. A hit is a receiver with credit and events to
	// deliver held back.
	FaultPausePartition FaultKind = "pause-partition"
)

// faultKindTable is every kind of fault, in the order FaultKinds lists
// them. Each entry says what the kind matches, its budget and its action;
// faults.go runs every kind alike. A new kind is a constant above and an
// entry here, if it acts once at injection or at a point the handlers
// already consult (faultPoint), and takes no parameter a Fault lacks.
var faultKindTable = []*faultKind{
	{name: FaultServerBusy, narrows: true, point: atSend, refusal: busyRefusal},
	{name: FaultDetachReceivers, narrows: true, point: atInjection, fire: (*Server).detachReceivers, takesCondition: true},
	{name: FaultDropConnections, point: atInjection, fire: (*Server).dropConnections},
	{name: FaultDelayFrames, point: atWrite, takesDelay: true},
	{name: FaultPausePartition, narrows: true, point: atDeliver},
}

// FaultKinds lists every kind of fault.
var FaultKinds = kindNames()

func kindNames() []FaultKind {
	names := make([]FaultKind, len(faultKindTable))
	for i, k := range faultKindTable {
		names[i] = k.name
	}
	return names
}

// busyRefusal is what a send to p gets from a server-busy fault: the
// error the service throttles with, naming the fault.
func busyRefusal(af *activeFault, p *partition) *amqp.Error {
	return amqpErr(condServerBusy, fmt.Sprintf(
		"The request was terminated because the event hub '%s' is being throttled: a server-busy fault injected into the emulator (fault %d). Please wait and try again.",
		p.hub.cfg.Name, af.id))
}

// detachReceivers detaches the consumer links af covers and returns how
// many. As a takeover does, it only marks each link (and takes it off its
// partition); the link's own goroutine sends the detach.
func (s *Server) detachReceivers(af *activeFault) int {
	var links []*consumer
	for _, h := range s.hubList {
		if af.hub != nil && h != af.hub {
			continue
		}
		for _, p := range h.partitions {
			if af.part != nil && p != af.part {
				continue
			}
			p.mu.Lock()
			for _, group := range p.readers {
				for cl := range group {
					links = append(links, cl)
					delete(group, cl)
				}
			}
			p.mu.Unlock()
		}
	}
	for _, cl := range links {
		cl.steal(amqpErr(amqp.Symbol(af.f.Condition), fmt.Sprintf(
			"The link to partition %s of '%s' was detached by a detach-receivers fault injected into the emulator (fault %d).", cl.part.id, cl.part.hub.cfg.Name, af.id)))
	}
	return len(links)
}

// dropConnections resets every open connection, AMQP and Kafka, and
// returns how many.
func (s *Server) dropConnections(*activeFault) int {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c.nc)
	}
	s.mu.Unlock()
	for _, k := range []*kafka.Server{s.tr.kafka, s.tr.kafkaTLS} {
		if k != nil {
			conns = append(conns, k.Conns()...)
		}
	}
	for _, nc := range conns {
		resetConn(nc)
	}
	return len(conns)
}

// resetConn closes nc so that the peer sees a reset, not an orderly close:
// on the TCP connection underneath (found through NetConn, as a TLS or
// WebSocket connection offers it) linger 0 makes the close send RST; the
// wrappers are closed after, so whatever they would send goes nowhere. A
// connection with nothing TCP underneath is just closed.
func resetConn(nc net.Conn) {
	inner := nc
	for range 8 {
		u, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		next := u.NetConn()
		if next == nil || next == inner {
			break
		}
		inner = next
	}
	if l, ok := inner.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	inner.Close()
	if inner != nc {
		nc.Close()
	}
}
