package emulator

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
	"github.com/ehstream/ehstream/emulator/partlog"
)

// consumerReadBatch bounds how many events one read from the log takes.
const consumerReadBatch = 512

// consumer delivers a partition's events on a link, as far as the client's
// credit and session window allow, with every transfer settled (the Go SDK
// never settles what it receives).
type consumer struct {
	*outLink
	part     *partition
	group    string // lower-case
	name     string // the client's receiver name, for ownership messages
	epoch    *int64
	next     int64 // next sequence number to send; the pump goroutine's
	stop     chan struct{}
	stopOnce bool // under wmu
	// stolen is set when a reader with a higher owner level takes the
	// partition, or a detach-receivers fault fires; the pump then sends
	// the detach with it.
	stolen atomic.Pointer[amqp.Error]
	// tracking is nil unless the client asked for last-enqueued event
	// properties on every delivery (lastenqueued.go); the pump's.
	tracking *runtimeInfo

	// For Snapshot: when the link attached, the events it delivered, and
	// the next sequence number it will deliver (next, as of the last send).
	attached  time.Time
	delivered atomic.Int64
	position  atomic.Int64
}

// parseConsumerSource reads "<hub>/ConsumerGroups/<group>/Partitions/<id>",
// or a URL of it (entityPath).
func (s *Server) parseConsumerSource(addr string) (*partition, string, *amqp.Error) {
	path, e := entityPath(addr)
	if e != nil {
		return nil, "", e
	}
	parts := strings.Split(path, "/")
	if len(parts) != 5 || !strings.EqualFold(parts[1], "ConsumerGroups") || !strings.EqualFold(parts[3], "Partitions") {
		return nil, "", amqpErr(condNotFound, fmt.Sprintf("'%s' is not a partition address; receive from '<hub>/ConsumerGroups/<group>/Partitions/<id>'", addr))
	}
	h := s.hub(parts[0])
	if h == nil {
		return nil, "", amqpErr(condNotFound, fmt.Sprintf("The messaging entity '%s' could not be found.", parts[0]))
	}
	if _, ok := h.group(parts[2]); !ok {
		return nil, "", amqpErr(condNotFound, fmt.Sprintf("The consumer group '%s' of event hub '%s' could not be found.", parts[2], h.cfg.Name))
	}
	p := h.partition(parts[4])
	if p == nil {
		return nil, "", amqpErr(condNotFound, fmt.Sprintf("Partition '%s' of event hub '%s' does not exist; partitions are 0 to %d.", parts[4], h.cfg.Name, len(h.partitions)-1))
	}
	return p, strings.ToLower(parts[2]), nil
}

func (s *session) attachConsumer(a *amqp.Attach) (link, error) {
	addr := ""
	if a.Source != nil {
		addr = a.Source.Address
	}
	p, group, e := s.c.srv.parseConsumerSource(addr)
	if e != nil {
		return nil, s.refuse(a, e)
	}
	start, e := startSequence(p, a.Source)
	if e != nil {
		return nil, s.refuse(a, e)
	}
	cl := &consumer{outLink: newOutLink(s, a.Handle), part: p, group: group, next: start, stop: make(chan struct{}), attached: time.Now()}
	cl.position.Store(start)
	if e := cl.takeOptions(a); e != nil {
		return nil, s.refuse(a, e)
	}
	stolen, e := p.register(cl)
	if e != nil && e.Condition == condResourceLimit {
		return nil, s.refuse(a, e) // a quota: refused at attach, as a bad address is
	}
	if e != nil {
		return nil, s.refuseAttached(a, e, uint64(p.hub.cfg.MaxEventSize))
	}
	for _, st := range stolen {
		st.cl.steal(st.err)
	}
	reply := &amqp.Attach{
		Name: a.Name, Handle: a.Handle, Role: amqp.RoleSender,
		SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode,
		Source: a.Source, Target: a.Target, MaxMessageSize: uint64(p.hub.cfg.MaxEventSize),
		Properties: a.Properties,
	}
	if cl.tracking != nil {
		reply.OfferedCapabilities = []amqp.Symbol{capReceiverRuntimeMetric}
	}
	s.c.srv.stats.consumerLinks.Add(1)
	if err := s.c.send(s.channel, reply); err != nil {
		p.unregister(cl)
		return nil, err
	}
	s.addKick(a.Handle, cl.wake)
	s.c.workers.Add(1)
	go cl.pump()
	return cl, nil
}

// takeOptions reads what the client asks of the link in its attach: its
// receiver name, its owner level, and last-enqueued event properties.
func (cl *consumer) takeOptions(a *amqp.Attach) *amqp.Error {
	if v, ok := a.Properties.Get("com.microsoft:receiver-name"); ok {
		cl.name, _ = v.(string)
	}
	if v, ok := a.Properties.Get("com.microsoft:epoch"); ok {
		epoch, ok := toInt64(v)
		if !ok {
			return amqpErr(condInvalidField, fmt.Sprintf("com.microsoft:epoch is a %T, want a long", v))
		}
		cl.epoch = &epoch
	}
	if wantsRuntimeMetric(a.DesiredCapabilities) {
		cl.tracking = &runtimeInfo{}
	}
	return nil
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int16:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint8:
		return int64(v), true
	}
	return 0, false
}

func (cl *consumer) onFlow(f *amqp.Flow) error {
	c := cl.s.c
	c.wmu.Lock()
	if cl.applyFlowLocked(f) {
		cl.s.appendFlowLocked(cl.linkFlowLocked)
	}
	err := c.flushLocked()
	c.wmu.Unlock()
	cl.wake()
	return err
}

func (cl *consumer) kind() linkKind { return linkReceiver }

func (cl *consumer) onTransfer(*amqp.Transfer) error {
	return errConn(condNotAllowed, "transfer on a link the emulator sends on")
}

// close runs when the client detaches or its session or connection ends.
func (cl *consumer) close() {
	cl.part.unregister(cl)
	cl.s.removeKick(cl.handle)
	cl.s.c.wmu.Lock()
	cl.detached = true
	cl.stopLocked()
	cl.s.c.wmu.Unlock()
}

func (cl *consumer) detachedByServer() bool {
	cl.s.c.wmu.Lock()
	defer cl.s.c.wmu.Unlock()
	return cl.sentDetach
}

func (cl *consumer) stopLocked() {
	if !cl.stopOnce {
		cl.stopOnce = true
		close(cl.stop)
	}
}

// steal ends the link because a reader with a higher owner level took the
// partition. It only marks the link and wakes its pump, which sends the
// detach: the reader taking over must not wait on this link's connection,
// whose client may have stopped reading. The pump sends nothing more once
// the mark is set.
func (cl *consumer) steal(e *amqp.Error) {
	cl.stolen.Store(e)
	cl.wake()
}

func (cl *consumer) pump() {
	c := cl.s.c
	defer c.workers.Done()
	log := cl.part.log
	var recs []partlog.Record
	for {
		changed := log.Changed()
		begin, end := log.Bounds()
		cl.next = max(cl.next, begin) // expired events are gone, as on the service
		c.wmu.Lock()
		if e := cl.stolen.Load(); e != nil {
			cl.detachLocked(e)
		}
		if cl.detached || c.werr != nil {
			c.wmu.Unlock()
			return
		}
		credit := cl.flow.credit
		ready := credit > 0 && cl.s.remoteIncomingWindow > 0 && cl.next < end
		var paused <-chan struct{} // a pause-partition fault holds the link back
		if ready {
			paused = c.srv.faults.holdBack(cl.part)
			ready = paused == nil
		}
		if !ready {
			cl.idleLocked()
			c.flushLocked()
		}
		c.wmu.Unlock()
		if ready {
			var err error
			recs, err = log.Read(recs[:0], cl.next, int(min(credit, consumerReadBatch)), 1<<20)
			if errors.Is(err, partlog.ErrExpired) {
				continue
			}
			if err != nil {
				c.log.Error("read failed", "hub", cl.part.hub.cfg.Name, "partition", cl.part.id, "err", err)
				c.wmu.Lock()
				cl.detachLocked(amqpErr(condInternalError, "the emulator could not read the partition"))
				c.wmu.Unlock()
				return
			}
			if cl.send(recs) {
				continue
			}
		}
		var events <-chan struct{}
		if cl.next >= end {
			events = changed
		}
		select {
		case <-cl.kick:
		case <-paused:
		case <-cl.stop:
			return
		case <-c.done:
			return
		case <-events:
		}
	}
}

// send writes as many of recs as credit and window allow; it reports
// whether it sent any.
func (cl *consumer) send(recs []partlog.Record) bool {
	if cl.tracking != nil {
		cl.tracking.refresh(cl.part, time.Now())
	}
	c := cl.s.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sent, bytes := 0, 0
	for _, r := range recs {
		payload := r.Payload
		if cl.tracking != nil {
			payload = cl.annotated(r.Payload, r.SequenceNumber)
		}
		if cl.detached || cl.flow.credit == 0 || cl.stolen.Load() != nil || !cl.s.writeDeliveryLocked(cl.outLink, payload) {
			break
		}
		cl.next = r.SequenceNumber + 1
		sent++
		n, _ := amqp.DataSize(r.Payload) // the emulator encoded it: it walks
		bytes += n
	}
	if sent == 0 {
		cl.idleLocked() // the window has no room for the next event
		c.flushLocked()
		return false
	}
	// Counted before the write: a client that has the events finds them
	// counted.
	c.srv.stats.eventsSent.Add(int64(sent))
	cl.part.counters.eventsOut.Add(int64(sent))
	cl.part.counters.bytesOut.Add(int64(bytes))
	cl.delivered.Add(int64(sent))
	cl.position.Store(cl.next)
	c.flushLocked()
	return true
}

// annotated is a stored event with the last-enqueued event properties the
// client asked for. An event the emulator cannot annotate (it stored every
// one, so cannot fail to walk it) goes out as stored rather than not at
// all.
func (cl *consumer) annotated(payload []byte, seq int64) []byte {
	b, err := cl.tracking.annotate(payload)
	if err != nil {
		cl.s.c.log.Error("cannot add last-enqueued event properties", "hub", cl.part.hub.cfg.Name, "partition", cl.part.id, "sequence", seq, "err", err)
		return payload
	}
	return b
}

// register adds a reader to the partition under the owner-level rules of
// Event Hubs: a reader with an owner level (epoch) takes the partition from
// readers with the same or a lower one and from readers without one; a
// reader with a lower owner level, or without one while an owner holds the
// partition, is refused. The caller steals from the readers returned, after
// the partition's lock is released.
func (p *partition) register(cl *consumer) (stolen []stolenReader, e *amqp.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	group := p.readers[cl.group]
	if group == nil {
		group = map[*consumer]string{}
		p.readers[cl.group] = group
	}
	for o := range group {
		if o.epoch == nil {
			continue
		}
		if cl.epoch == nil {
			return nil, amqpErr(condStolen, fmt.Sprintf("Receiver '%s' without an epoch cannot be created because receiver '%s' with epoch '%d' holds partition %s of '%s' in consumer group '%s'.",
				cl.name, o.name, *o.epoch, p.id, p.hub.cfg.Name, cl.group))
		}
		if *o.epoch > *cl.epoch {
			return nil, amqpErr(condStolen, fmt.Sprintf("Receiver '%s' with epoch '%d' cannot be created because receiver '%s' with the higher epoch '%d' holds partition %s of '%s' in consumer group '%s'.",
				cl.name, *cl.epoch, o.name, *o.epoch, p.id, p.hub.cfg.Name, cl.group))
		}
	}
	if cl.epoch == nil && len(group) >= MaxReadersPerGroup {
		return nil, tooManyReaders(group)
	}
	if cl.epoch != nil {
		for o := range group {
			old := "no epoch"
			if o.epoch != nil {
				old = fmt.Sprintf("epoch '%d'", *o.epoch)
			}
			stolen = append(stolen, stolenReader{o, amqpErr(condStolen, fmt.Sprintf("New receiver '%s' with higher epoch of '%d' is created hence current receiver '%s' with %s is getting disconnected.",
				cl.name, *cl.epoch, o.name, old))})
			delete(group, o)
		}
	}
	group[cl] = cl.name
	return stolen, nil
}

// stolenReader is a reader a new one takes the partition from, and what it
// is told.
type stolenReader struct {
	cl  *consumer
	err *amqp.Error
}

func (p *partition) unregister(cl *consumer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.readers[cl.group], cl)
}
