package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ehstream/ehstream/emulator/amqp"
	"github.com/ehstream/ehstream/emulator/partlog"
)

// producerCredit is the most deliveries a producer link may have in
// flight: taken from the socket but not yet appended and acknowledged.
// The budgets of bytes in flight grant less for large deliveries.
const producerCredit = 1000

// Annotations the service stamps on every event.
const (
	annSequenceNumber amqp.Symbol = "x-opt-sequence-number"
	annOffset         amqp.Symbol = "x-opt-offset"
	annEnqueuedTime   amqp.Symbol = "x-opt-enqueued-time"
	annPartitionKey   amqp.Symbol = "x-opt-partition-key"
)

// producerLink appends the events a client sends. Deliveries are assembled
// by the reader goroutine and appended by the link's own goroutine, so a
// slow fsync never stalls the connection's other links.
//
// Its credit is what the budgets of bytes in flight hold (budget.go): as
// many deliveries of the hub's largest size as fit in what is left of the
// link's budget and is free in the server's, at most producerCredit. It
// grows as stored deliveries give their bytes back; when the server's
// budget left the client none, the link waits to be woken by a give.
type producerLink struct {
	inLink
	hub       *hub
	part      *partition // nil: the hub picks a partition per batch
	queue     chan *delivery
	kick      chan struct{} // the server's budget has room again
	processed uint32        // the worker's; read under wmu for credit
	// limit is the delivery-count up to which the client may send: that of
	// the last flow plus its credit. Under wmu.
	limit uint32
	// revoked: the emulator detached the link, its token having expired
	// (tokenexpiry.go); nothing more it sends is stored.
	revoked atomic.Bool
}

// parseProducerTarget reads "<hub>" or "<hub>/Partitions/<id>", or a URL
// of either (entityPath).
func (s *Server) parseProducerTarget(addr string) (*hub, *partition, *amqp.Error) {
	path, e := entityPath(addr)
	if e != nil {
		return nil, nil, e
	}
	parts := strings.Split(path, "/")
	if parts[0] == "" {
		return nil, nil, amqpErr(condNotFound, fmt.Sprintf("'%s' is not an event hub address; send to '<hub>' or '<hub>/Partitions/<id>'", addr))
	}
	h := s.hub(parts[0])
	if h == nil {
		return nil, nil, amqpErr(condNotFound, fmt.Sprintf("The messaging entity '%s' could not be found.", parts[0]))
	}
	switch {
	case len(parts) == 1:
		return h, nil, nil
	case len(parts) == 3 && strings.EqualFold(parts[1], "Partitions"):
		p := h.partition(parts[2])
		if p == nil {
			return nil, nil, amqpErr(condNotFound, fmt.Sprintf("Partition '%s' of event hub '%s' does not exist; partitions are 0 to %d.", parts[2], h.cfg.Name, len(h.partitions)-1))
		}
		return h, p, nil
	}
	return nil, nil, amqpErr(condNotFound, fmt.Sprintf("'%s' is not an event hub address; send to '<hub>' or '<hub>/Partitions/<id>'", addr))
}

func (s *session) attachProducer(a *amqp.Attach) (link, error) {
	addr := ""
	if a.Target != nil {
		addr = a.Target.Address
	}
	h, p, e := s.c.srv.parseProducerTarget(addr)
	if e != nil {
		return nil, s.refuse(a, e)
	}
	srv := s.c.srv
	l := &producerLink{
		inLink: inLink{s: s, handle: a.Handle, maxSize: h.cfg.MaxEventSize, received: a.InitialDeliveryCount,
			budget: srv.budget, linkBudget: max(srv.cfg.MaxLinkInFlightBytes, int64(h.cfg.MaxEventSize))},
		hub:       h,
		part:      p,
		queue:     make(chan *delivery, producerCredit),
		kick:      make(chan struct{}, 1),
		processed: a.InitialDeliveryCount,
		limit:     a.InitialDeliveryCount,
	}
	reply := &amqp.Attach{
		Name: a.Name, Handle: a.Handle, Role: amqp.RoleReceiver,
		SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode,
		Source: a.Source, Target: a.Target, MaxMessageSize: uint64(h.cfg.MaxEventSize),
		OfferedCapabilities: a.DesiredCapabilities,
		// Echoed, as on consumer links: pyamqp merges the reply's properties
		// into the ones it sent (dict.update), which fails on a null.
		Properties: a.Properties,
	}
	s.c.srv.stats.producerLinks.Add(1)
	s.c.wmu.Lock()
	s.c.appendFrameLocked(s.channel, reply)
	l.grantLocked(true)
	err := s.c.flushLocked()
	s.c.wmu.Unlock()
	s.c.workers.Add(1)
	go l.work()
	return l, err
}

func (l *producerLink) onFlow(*amqp.Flow) error { return nil }
func (l *producerLink) detachedByServer() bool  { return l.revoked.Load() }
func (l *producerLink) kind() linkKind          { return linkSender }

func (l *producerLink) onTransfer(t *amqp.Transfer) error {
	if l.revoked.Load() {
		return nil // sent before the client saw the detach
	}
	d, err := l.take(t)
	if d == nil || err != nil {
		return err
	}
	select {
	case l.queue <- d:
		return nil
	default:
		return errConn(condTransferLimit, "more than %d deliveries in flight on link %d: the client ignored its credit", producerCredit, l.handle)
	}
}

// close lets the worker finish what was queued: a delivery the client
// sent before detaching is still appended. The one it had not finished is
// dropped.
func (l *producerLink) close() {
	l.s.c.wmu.Lock()
	l.closed = true
	l.s.c.wmu.Unlock()
	close(l.queue)
	l.abandon()
}

// wake makes the worker grant what credit it can; it never blocks.
func (l *producerLink) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *producerLink) work() {
	c := l.s.c
	defer c.workers.Done()
	defer l.budget.forget(l)
	for {
		select {
		case d, ok := <-l.queue:
			if !ok {
				return
			}
			if l.revoked.Load() { // its token expired: nothing more is stored
				l.release(d)
				continue
			}
			l.store(d)
		case <-l.kick:
			c.wmu.Lock()
			if !l.closed {
				l.grantLocked(true)
				c.flushLocked()
			}
			c.wmu.Unlock()
		}
	}
}

// store appends a delivery, settles it and grants the credit its bytes
// free.
func (l *producerLink) store(d *delivery) {
	c := l.s.c
	state := l.process(d)
	l.release(d)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	l.processed++
	if l.closed {
		return
	}
	if !d.settled && !d.aborted {
		l.settleLocked(d.id, d.id, state)
	}
	l.grantLocked(len(l.queue) == 0)
	c.flushLocked()
}

// creditLocked is the credit the link can have now, counted from the
// deliveries received; heldBack says that the server's budget, not the
// link's own or its queue, is what limits it. wmu held.
func (l *producerLink) creditLocked() (credit uint32, heldBack bool) {
	size := int64(l.maxSize)
	byQueue := int64(producerCredit - min(l.received-l.processed, producerCredit))
	n := min(byQueue, max(l.linkBudget-l.reserved.Load(), 0)/size)
	if byServer := max(l.budget.free(), 0) / size; byServer < n {
		return uint32(byServer), true
	}
	return uint32(n), false
}

// grantLocked appends a flow that raises the client's delivery limit to
// what the link can have now. Credit is never taken back: deliveries may
// be on their way under it. Unless eager, the flow waits until the client
// has used half of the credit it has, so that small deliveries do not
// each cost one. When the server's budget leaves the client no credit, the
// link waits for bytes to be given back. wmu held; the caller flushes.
func (l *producerLink) grantLocked(eager bool) {
	credit, heldBack := l.creditLocked()
	left := uint32(0) // the client's credit before this flow
	if behind := l.limit - l.received; behind < 1<<31 {
		left = behind
	}
	if limit := l.received + credit; limit-l.limit-1 < 1<<31 && (eager || left < credit/2) {
		l.limit = limit
		h, dc := l.handle, l.received
		l.s.appendFlowLocked(func(f *amqp.Flow) {
			f.Handle, f.DeliveryCount, f.LinkCredit = &h, &dc, &credit
		})
		left = credit
	}
	if heldBack && left == 0 && !l.budget.wait(l, int64(l.maxSize)) {
		l.wake() // freed since it was counted
	}
}

// process appends one delivery's events and returns its outcome.
func (l *producerLink) process(d *delivery) amqp.Marshaler {
	if d.aborted {
		return nil
	}
	if d.busy != nil {
		return &amqp.Rejected{Error: d.busy}
	}
	if d.tooLarge {
		return &amqp.Rejected{Error: amqpErr(condMessageTooLarge, fmt.Sprintf(
			"The received message (delivery-id:%d) exceeds the limit (%d bytes) currently allowed on the link.", d.id, l.hub.cfg.MaxEventSize))}
	}
	events, key, hasKey, err := splitEvents(d)
	if err != nil {
		return &amqp.Rejected{Error: amqpErr(condDecodeError, err.Error())}
	}
	p := l.part
	if p == nil {
		p = l.hub.route(key, hasKey)
	}
	if e := l.s.c.srv.faults.busyFor(p); e != nil {
		return &amqp.Rejected{Error: e}
	}
	bodyBytes := 0
	for _, ev := range events {
		for _, sec := range ev.sections {
			bodyBytes += sec.DataLen()
		}
	}
	_, err = p.log.Append(len(events), func(i int, m partlog.Meta, dst []byte) ([]byte, error) {
		ev := events[i]
		ann := append(amqp.Map(nil), ev.ann...)
		ann = ann.Set(annSequenceNumber, m.SequenceNumber)
		ann = ann.Set(annOffset, strconv.FormatInt(m.Offset, 10))
		ann = ann.Set(annEnqueuedTime, m.EnqueuedTime)
		if hasKey {
			if _, ok := ann.Get(annPartitionKey); !ok {
				ann = ann.Set(annPartitionKey, key)
			}
		}
		return amqp.AppendWithAnnotations(dst, ev.sections, ann)
	})
	if err != nil {
		l.s.c.log.Error("append failed", "hub", l.hub.cfg.Name, "partition", p.id, "err", err)
		return &amqp.Rejected{Error: amqpErr(condInternalError, "the emulator could not store the events")}
	}
	l.s.c.srv.stats.eventsAppended.Add(int64(len(events)))
	p.counters.eventsIn.Add(int64(len(events)))
	p.counters.bytesIn.Add(int64(bodyBytes))
	return &amqp.Accepted{}
}

type event struct {
	sections []amqp.Section
	ann      amqp.Map
}

// splitEvents unpacks a delivery into its events: the Data sections of a
// batch (message format 0x80013700), or the message itself.
func splitEvents(d *delivery) (events []event, key string, hasKey bool, err error) {
	secs, err := amqp.SplitSections(d.payload)
	if err != nil {
		return nil, "", false, err
	}
	ann, err := amqp.ReadAnnotations(secs)
	if err != nil {
		return nil, "", false, err
	}
	if v, ok := ann.Get(annPartitionKey); ok {
		if key, hasKey = v.(string); !hasKey {
			return nil, "", false, fmt.Errorf("x-opt-partition-key is a %T, want a string", v)
		}
	}
	if d.format != amqp.MessageFormatBatch {
		return []event{{sections: secs, ann: ann}}, key, hasKey, nil
	}
	for _, s := range secs {
		if s.Code != amqp.SectionData {
			continue
		}
		v, err := amqp.Unmarshal(s.Body)
		if err != nil {
			return nil, "", false, err
		}
		inner, _ := v.([]byte)
		isecs, err := amqp.SplitSections(inner)
		if err != nil {
			return nil, "", false, fmt.Errorf("event %d of the batch: %w", len(events), err)
		}
		iann, err := amqp.ReadAnnotations(isecs)
		if err != nil {
			return nil, "", false, fmt.Errorf("event %d of the batch: %w", len(events), err)
		}
		events = append(events, event{sections: isecs, ann: iann})
	}
	if len(events) == 0 {
		return nil, "", false, fmt.Errorf("a batch message with no events")
	}
	return events, key, hasKey, nil
}
