package emulator

import (
	"sync/atomic"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// outLink is the state of a link on which the emulator sends. All fields
// are guarded by conn.wmu.
type outLink struct {
	s          *session
	handle     uint32
	flow       senderFlow
	detached   bool // the emulator sent a detach, or the link is closed
	sentDetach bool // the emulator sent a detach: the client's needs no answer
	kick       chan struct{}
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

// applyFlowLocked takes a flow's link fields and reports whether to send
// our state back at once. When a drain is due, its answer carries the
// state instead, once the link is idle: go-amqp takes any flow with drain
// set as that answer, so none may go out before. wmu held.
func (o *outLink) applyFlowLocked(f *amqp.Flow) (echo bool) {
	o.flow.onFlow(f.DeliveryCount, f.LinkCredit, f.Drain)
	return f.Echo && !o.flow.drainDue
}

// linkFlowLocked appends this link's fields to a flow frame; wmu held.
func (o *outLink) linkFlowLocked(f *amqp.Flow) {
	h, dc, cr := o.handle, o.flow.deliveryCount, o.flow.credit
	f.Handle, f.DeliveryCount, f.LinkCredit = &h, &dc, &cr
}

// idleLocked is called whenever the link has nothing more it can send for
// now; it answers a drain that is due. wmu held; the caller flushes.
func (o *outLink) idleLocked() {
	if o.detached || !o.flow.idle() {
		return
	}
	o.s.appendFlowLocked(func(f *amqp.Flow) {
		o.linkFlowLocked(f)
		f.Drain = true
	})
}

// detachLocked sends the emulator's detach with an error; wmu held.
func (o *outLink) detachLocked(e *amqp.Error) {
	if o.detached {
		return
	}
	o.detached, o.sentDetach = true, true
	o.s.c.appendFrameLocked(o.s.channel, &amqp.Detach{Handle: o.handle, Closed: true, Error: e})
	o.s.c.flushLocked()
}

// inLink assembles the deliveries of a link on which the client sends.
// Reader goroutine only, except received (read under wmu by credit flows)
// and reserved.
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

	// budget counts the link's deliveries against the server's budget.
	// answered: each delivery is answered as it is read, never queued
	// ($cbs and $management requests), so one that fits in a frame holds
	// nothing the frame does not, and one longer takes room without
	// waiting for it: requests go on while producers fill the budget.
	budget   *byteBudget
	answered bool
	// linkBudget, when above 0, bounds what the link holds; reserved is
	// what its deliveries hold, counted as the server's budget counts them.
	// Credit is granted from what is left (producer.go).
	linkBudget int64
	reserved   atomic.Int64
}

type delivery struct {
	id       uint32
	tag      []byte
	format   uint32
	settled  bool
	payload  []byte
	tooLarge bool
	aborted  bool
	// busy is the refusal of a delivery that the budget of bytes in flight
	// could not hold: its bytes are dropped as they come, like those of a
	// delivery too large.
	busy *amqp.Error
	// held is what the delivery holds in the budgets (budget.go): the most
	// it may grow to while it is read, its size once complete.
	held int64
}

// take adds a transfer frame to the delivery in progress and returns the
// delivery once its last frame arrived.
func (in *inLink) take(t *amqp.Transfer) (*delivery, error) {
	if in.cur == nil {
		if t.DeliveryID == nil {
			return nil, errConn(condNotAllowed, "first transfer of a delivery without a delivery-id")
		}
		in.cur = in.begin(t)
	}
	d := in.cur
	if t.Settled {
		d.settled = true
	}
	if !d.tooLarge && d.busy == nil {
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
	in.shrink(d, int64(len(d.payload))) // what it may still grow by is free again
	return d, nil
}

// begin starts a delivery with its first frame, and holds for it in the
// link's budget and the server's the most it may grow to: the hub's
// largest event, or its size when the frame is its only one. A client that
// keeps to its credit always finds room in the link's budget; room in the
// server's may take waiting for (budget.go).
func (in *inLink) begin(t *amqp.Transfer) *delivery {
	d := &delivery{id: *t.DeliveryID, tag: append([]byte(nil), t.DeliveryTag...), settled: t.Settled}
	if t.MessageFormat != nil {
		d.format = *t.MessageFormat
	}
	in.s.c.wmu.Lock()
	in.received++
	in.s.c.wmu.Unlock()
	n := int64(in.maxSize)
	if !t.More {
		n = min(n, int64(len(t.Payload)))
	}
	if in.answered {
		switch {
		case !t.More: // held by the frame alone
		case in.budget.take(n):
			d.held = n
		default:
			in.refuse(d, errOverBudget("the emulator's budget", in.budget.limit, "MaxInFlightBytes, --max-inflight-bytes"))
		}
		return d
	}
	if in.linkBudget > 0 && in.reserved.Add(n) > in.linkBudget {
		in.reserved.Add(-n)
		in.refuse(d, errOverBudget("the link's budget", in.linkBudget, "MaxLinkInFlightBytes, --max-link-inflight-bytes"))
		return d
	}
	if !in.budget.reserve(n, in.s.c.done) {
		if in.linkBudget > 0 {
			in.reserved.Add(-n)
		}
		in.refuse(d, errOverBudget("the emulator's budget", in.budget.limit, "MaxInFlightBytes, --max-inflight-bytes"))
		return d
	}
	d.held = n
	return d
}

// refuse marks a delivery to be answered with e.
func (in *inLink) refuse(d *delivery, e *amqp.Error) {
	d.busy = e
	in.s.c.srv.stats.throttled.Add(1)
}

// shrink lowers what a delivery holds in the budgets to n.
func (in *inLink) shrink(d *delivery, n int64) {
	less := d.held - n
	if less <= 0 {
		return
	}
	d.held = n
	in.budget.give(less)
	if in.linkBudget > 0 {
		in.reserved.Add(-less)
	}
}

// release gives back what a delivery taken holds, once it is stored or
// refused.
func (in *inLink) release(d *delivery) {
	d.payload = nil
	in.shrink(d, 0)
}

// abandon gives back what the delivery still being read holds, when the
// link closes; reader goroutine.
func (in *inLink) abandon() {
	if d := in.cur; d != nil {
		in.cur = nil
		in.release(d)
	}
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
	in.s.c.appendFrameLocked(in.s.channel, d)
}
