package emulator

import (
	"github.com/ehstream/ehstream/emulator/amqp"
)

// outLink is the credit state of a link on which the emulator sends. All
// fields are guarded by conn.wmu.
type outLink struct {
	s             *session
	handle        uint32
	deliveryCount uint32
	credit        uint32
	drain         bool
	detached      bool // the emulator sent a detach, or the link is closed
	sentDetach    bool // the emulator sent a detach: the client's needs no answer
	kick          chan struct{}
}

func newOutLink(s *session, handle uint32) *outLink {
	return &outLink{s: s, handle: handle, kick: make(chan struct{}, 1)}
}

// wake nudges the goroutine that sends on the link; it never blocks.
func (o *outLink) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// applyFlow takes the client's credit: the link may send until its
// delivery-count reaches the client's delivery-count + link-credit.
func (o *outLink) applyFlow(f *amqp.Flow) (echo bool) {
	o.s.c.wmu.Lock()
	defer o.s.c.wmu.Unlock()
	if f.LinkCredit != nil {
		base := o.deliveryCount // the initial delivery count when the client has seen none
		if f.DeliveryCount != nil {
			base = *f.DeliveryCount
		}
		o.credit = base + *f.LinkCredit - o.deliveryCount
	}
	o.drain = f.Drain
	return f.Echo
}

// linkFlowLocked appends this link's fields to a flow frame; wmu held.
func (o *outLink) linkFlowLocked(f *amqp.Flow) {
	h, dc, cr := o.handle, o.deliveryCount, o.credit
	f.Handle, f.DeliveryCount, f.LinkCredit = &h, &dc, &cr
	f.Drain = o.drain
}

// drainLocked answers a drain request when the link has nothing to send:
// the unused credit is consumed and the client is told so. wmu held.
func (o *outLink) drainLocked() {
	if !o.drain || o.detached {
		return
	}
	o.deliveryCount += o.credit
	o.credit = 0
	o.s.appendFlowLocked(o.linkFlowLocked)
	o.drain = false
}

// detachLocked sends the emulator's detach with an error; wmu held.
func (o *outLink) detachLocked(e *amqp.Error) {
	if o.detached {
		return
	}
	o.detached, o.sentDetach = true, true
	o.s.c.appendFrame(o.s.channel, &amqp.Detach{Handle: o.handle, Closed: true, Error: e})
	o.s.c.flushLocked()
}

// inLink assembles the deliveries of a link on which the client sends.
// Reader goroutine only, except received (read under wmu by credit flows).
type inLink struct {
	s       *session
	handle  uint32
	maxSize int
	cur     *delivery
	// received counts deliveries taken, from the client's initial
	// delivery count; guarded by conn.wmu.
	received uint32
	// closed: the link is detached, so nothing more may be sent on its
	// handle (a flow for an unknown handle makes clients drop the session).
	// Guarded by conn.wmu.
	closed bool
}

type delivery struct {
	id       uint32
	tag      []byte
	format   uint32
	settled  bool
	payload  []byte
	tooLarge bool
	aborted  bool
}

// take adds a transfer frame to the delivery in progress and returns the
// delivery once its last frame arrived.
func (in *inLink) take(t *amqp.Transfer) (*delivery, error) {
	if in.cur == nil {
		if t.DeliveryID == nil {
			return nil, errConn(condNotAllowed, "first transfer of a delivery without a delivery-id")
		}
		d := &delivery{id: *t.DeliveryID, tag: append([]byte(nil), t.DeliveryTag...), settled: t.Settled}
		if t.MessageFormat != nil {
			d.format = *t.MessageFormat
		}
		in.cur = d
		in.s.c.wmu.Lock()
		in.received++
		in.s.c.wmu.Unlock()
	}
	d := in.cur
	if t.Settled {
		d.settled = true
	}
	if !d.tooLarge {
		if len(d.payload)+len(t.Payload) > in.maxSize {
			// Keep reading the frames, but not the bytes: a client cannot make
			// the emulator hold more than the limit.
			d.tooLarge = true
			d.payload = nil
		} else {
			d.payload = append(d.payload, t.Payload...)
		}
	}
	if t.Aborted {
		d.aborted = true
	}
	if t.More && !t.Aborted {
		return nil, nil
	}
	in.cur = nil
	return d, nil
}

// creditFlowLocked grants the client credit so that at most window
// deliveries are taken but not yet processed. wmu held.
func (in *inLink) creditFlowLocked(processed uint32, window uint32) func(f *amqp.Flow) {
	h, dc := in.handle, in.received
	credit := processed + window - in.received
	return func(f *amqp.Flow) {
		f.Handle, f.DeliveryCount, f.LinkCredit = &h, &dc, &credit
	}
}

// settleLocked appends a settled disposition for deliveries first..last.
func (in *inLink) settleLocked(first, last uint32, state amqp.Marshaler) {
	d := &amqp.Disposition{Role: amqp.RoleReceiver, First: first, Settled: true, State: state}
	if last != first {
		d.Last = &last
	}
	in.s.c.appendFrame(in.s.channel, d)
}
