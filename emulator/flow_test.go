package emulator

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// FuzzFlowControl drives senderFlow, used as the consumer pump uses it,
// with random sequences of flows (stale, drained, echoed), transfers and
// new events, against a receiver that follows AMQP 1.0 section 2.6.7 and
// with frames in flight both ways. It checks that no transfer goes beyond
// the credit the sender last heard of, that no receiver ever gets more
// than it granted, that every drain is answered, and that once nothing is
// in flight both ends agree on delivery-count and credit. The seed corpus
// runs in every go test; fuzz it with
//
//	go test -run x -fuzz FuzzFlowControl ./emulator/
func FuzzFlowControl(f *testing.F) {
	// A byte is one step: the low 3 bits say which, the next 3 a number,
	// bit 6 drain and bit 7 echo on a receiver's flow.
	f.Add([]byte{0, 0, 0, 0, 63, 40, 3, 4, 4, 4, 4, 4, 0, 3, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2}) // a stale flow while transfers are in flight
	f.Add([]byte{0, 0, 0, 0, 65, 3, 4, 2, 89, 3, 4, 2})                                     // drain with no credit, then with credit and no events
	f.Add([]byte{0xff, 0xff, 0xff, 0xf0, 63, 56, 3, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2,
		63, 63, 56, 3, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2}) // delivery-count wraps
	f.Add([]byte{0, 0, 0, 1, 15, 209, 3, 4, 4, 2, 2}) // echo with a drain pending
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) < 4 {
			return
		}
		m := newFlowModel(binary.BigEndian.Uint32(prog))
		for _, b := range prog[4:min(len(prog), 4000)] {
			m.step(t, b)
		}
		m.quiesce(t)
	})
}

// frame is a flow or a transfer in flight.
type frame struct {
	transfer      bool
	deliveryCount uint32
	credit        uint32
	drain, echo   bool
}

type flowModel struct {
	init uint32 // initial delivery-count: counts below are relative to it
	snd  senderFlow
	// events the sender could send; the receiver's flows it last applied
	events   int
	lastSeen *frame

	toRcv, toSnd []frame // in flight, in order

	// The receiver: its delivery-count, the delivery limit of its last
	// flow and the highest it ever granted, and whether it waits for a
	// drain answer.
	rcvCount     uint32
	rcvLimit     int64
	maxLimit     int64
	drainWaiting bool

	trace []string
}

func newFlowModel(init uint32) *flowModel {
	return &flowModel{init: init, snd: senderFlow{deliveryCount: init}, rcvCount: init, maxLimit: 0}
}

func (m *flowModel) rel(count uint32) int64 { return int64(int32(count - m.init)) }

func (m *flowModel) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf(format+"\nsteps:\n%s", append(args, strings.Join(m.trace, "\n"))...)
}

// step does one thing, chosen by b: the receiver sends a flow, a frame
// arrives at either end, the sender works, or events arrive.
func (m *flowModel) step(t *testing.T, b byte) {
	t.Helper()
	switch b % 8 {
	case 0, 1: // the receiver sends a flow from what it has seen so far
		f := frame{deliveryCount: m.rcvCount, credit: uint32(b>>3) & 7, drain: b&0x40 != 0 && b%8 == 1, echo: b&0x80 != 0}
		if m.drainWaiting {
			// A receiver waiting for a drain answer sends no flow until it has
			// it (go-amqp refuses to).
			return
		}
		m.rcvLimit = m.rel(f.deliveryCount) + int64(f.credit)
		m.drainWaiting = m.drainWaiting || f.drain
		m.maxLimit = max(m.maxLimit, m.rcvLimit)
		m.toSnd = append(m.toSnd, f)
		m.trace = append(m.trace, fmt.Sprintf("receiver sends flow %+v", f))
	case 2: // the first frame in flight reaches the receiver
		if len(m.toRcv) == 0 {
			return
		}
		f := m.toRcv[0]
		m.toRcv = m.toRcv[1:]
		m.receive(t, f)
	case 3: // the first frame in flight reaches the sender
		if len(m.toSnd) == 0 {
			return
		}
		f := m.toSnd[0]
		m.toSnd = m.toSnd[1:]
		m.lastSeen = &f
		m.snd.onFlow(&f.deliveryCount, &f.credit, f.drain)
		m.trace = append(m.trace, fmt.Sprintf("sender applies %+v: count %d credit %d drain due %v", f, m.rel(m.snd.deliveryCount), m.snd.credit, m.snd.drainDue))
		if m.snd.credit > f.credit {
			m.fail(t, "credit %d after a flow granting %d", m.snd.credit, f.credit)
		}
		if f.echo && !m.snd.drainDue {
			m.send(frame{deliveryCount: m.snd.deliveryCount, credit: m.snd.credit})
		}
	case 4, 5, 6: // the sender works as the pump does
		m.work(t)
	case 7:
		m.events += int(b>>3) & 7
	}
}

// work sends one event if it may, or is idle.
func (m *flowModel) work(t *testing.T) {
	t.Helper()
	if m.events > 0 && m.snd.credit > 0 {
		if f := m.lastSeen; f == nil || m.rel(m.snd.deliveryCount) >= m.rel(f.deliveryCount)+int64(f.credit) {
			m.fail(t, "transfer %d beyond the delivery limit of the last flow applied %+v", m.rel(m.snd.deliveryCount), f)
		}
		m.snd.transferred()
		m.events--
		m.send(frame{transfer: true})
		return
	}
	if m.snd.idle() {
		m.send(frame{deliveryCount: m.snd.deliveryCount, credit: m.snd.credit, drain: true})
	}
}

func (m *flowModel) send(f frame) {
	m.toRcv = append(m.toRcv, f)
	m.trace = append(m.trace, fmt.Sprintf("sender sends %+v (count %d)", f, m.rel(m.snd.deliveryCount)))
}

// receive is the receiver taking a frame, as the specification says.
func (m *flowModel) receive(t *testing.T, f frame) {
	t.Helper()
	m.trace = append(m.trace, fmt.Sprintf("receiver gets %+v", f))
	if f.transfer {
		m.rcvCount++
		if m.rel(m.rcvCount) > m.maxLimit {
			m.fail(t, "delivery %d arrived; the most the receiver ever allowed is %d", m.rel(m.rcvCount), m.maxLimit)
		}
		return
	}
	if f.credit != 0 && f.drain {
		m.fail(t, "a drain answer that leaves credit %d", f.credit)
	}
	// The sender's delivery-count is the truth: every transfer before the
	// flow has arrived, and a drain moved it on.
	m.rcvCount = f.deliveryCount
	if f.drain {
		m.drainWaiting = false
	}
}

// quiesce lets every frame arrive and the sender work until nothing moves,
// then checks that both ends agree.
func (m *flowModel) quiesce(t *testing.T) {
	t.Helper()
	for i := 0; len(m.toRcv)+len(m.toSnd) > 0 || m.events > 0 && m.snd.credit > 0 || m.snd.drainDue; i++ {
		if i > 100000 {
			m.fail(t, "no quiescence")
		}
		switch {
		case len(m.toSnd) > 0:
			m.step(t, 3)
		case m.events > 0 && m.snd.credit > 0 || m.snd.drainDue:
			m.work(t)
		default:
			m.step(t, 2)
		}
	}
	if m.drainWaiting {
		m.fail(t, "the receiver still waits for a drain answer")
	}
	if credit := max(0, m.rcvLimit-m.rel(m.rcvCount)); m.rcvCount != m.snd.deliveryCount || credit != int64(m.snd.credit) {
		m.fail(t, "receiver sees count %d credit %d, sender has count %d credit %d",
			m.rel(m.rcvCount), credit, m.rel(m.snd.deliveryCount), m.snd.credit)
	}
}

func TestCreditLeft(t *testing.T) {
	for _, c := range []struct{ base, credit, count, want uint32 }{
		{0, 5, 0, 5},
		{0, 5, 3, 2},
		{0, 5, 5, 0},
		{0, 0, 5, 0}, // the stale flow that used to wrap to 4294967291
		{0, 3, 100, 0},
		{^uint32(0) - 1, 10, 2, 6}, // across the wrap
		{10, 5, 8, 7},              // a receiver ahead of the sender
		{10, ^uint32(0), 8, ^uint32(0)},
	} {
		if got := creditLeft(c.base, c.credit, c.count); got != c.want {
			t.Errorf("creditLeft(%d, %d, %d) = %d, want %d", c.base, c.credit, c.count, got, c.want)
		}
	}
}
