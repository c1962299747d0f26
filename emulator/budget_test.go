package emulator_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// attachSender attaches a producer link on handle to target and returns
// the link credit the emulator gave it along with its attach: none when it
// sent no flow for the link. A session flow with echo set follows the
// attach, so the emulator's echo marks the end of its answer.
func (r *rawClient) attachSender(handle uint32, target string) (credit uint32) {
	r.t.Helper()
	r.send(&amqp.Attach{Name: fmt.Sprint("sender-", handle), Handle: handle, Role: amqp.RoleSender,
		Source: &amqp.Source{Address: "raw"}, Target: &amqp.Target{Address: target}})
	next := uint32(0)
	r.send(&amqp.Flow{NextIncomingID: &next, IncomingWindow: 1 << 30, OutgoingWindow: 1 << 30, Echo: true})
	attached := false
	r.until("attach of "+target, func(p amqp.Performative) bool {
		switch p := p.(type) {
		case *amqp.Attach:
			if p.Target == nil {
				r.t.Fatalf("attach to %s refused", target)
			}
			attached = true
		case *amqp.Flow:
			if p.Handle == nil {
				return attached
			}
			if *p.Handle == handle {
				credit = *p.LinkCredit
			}
		}
		return false
	})
	return credit
}

// transfer sends one frame of delivery id on handle.
func (r *rawClient) transfer(handle, id uint32, first, more bool, payload []byte) {
	r.t.Helper()
	t := &amqp.Transfer{Handle: handle, More: more, Payload: payload}
	if first {
		t.DeliveryID, t.DeliveryTag = &id, []byte(fmt.Sprint(id))
	}
	r.send(t)
}

// sendUnfinished sends size bytes of delivery id on handle in frames of
// 128 KiB, each with more set: the delivery never ends.
func (r *rawClient) sendUnfinished(handle, id uint32, size int) {
	r.t.Helper()
	chunk := bytes.Repeat([]byte("u"), 128<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		r.transfer(handle, id, sent == 0, true, chunk[:min(len(chunk), size-sent)])
	}
}

// outcome waits for the disposition of delivery id and returns its state.
func (r *rawClient) outcome(id uint32) any {
	r.t.Helper()
	var state any
	r.until(fmt.Sprint("the disposition of delivery ", id), func(p amqp.Performative) bool {
		d, ok := p.(*amqp.Disposition)
		if ok && d.First <= id && (d.Last == nil && d.First == id || d.Last != nil && *d.Last >= id) {
			state = d.State
			return true
		}
		return false
	})
	return state
}

func isAccepted(state any) bool {
	_, ok := state.(*amqp.Accepted)
	return ok
}

// message is a complete, small AMQP message with one Data section.
func message(t *testing.T, body string) []byte {
	t.Helper()
	b, err := amqp.AppendMessage(nil, &amqp.Message{Data: [][]byte{[]byte(body)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitStats polls the server's Stats until ok says so, failing after 10 s.
func waitStats(t *testing.T, srv *emulator.Server, what string, ok func(emulator.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(srv.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s: %+v", what, srv.Stats())
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, not synchronising
	}
}

// TestProducerCreditFitsTheLinkBudget: a producer link's credit is as many
// events of its hub's largest size as the link's budget of bytes in
// flight holds (at most 1000), so that a client which keeps to it cannot
// make the emulator hold more. It used to be 1000 whatever their size:
// 1000 MiB for a hub of 1 MiB events.
func TestProducerCreditFitsTheLinkBudget(t *testing.T) {
	srv := start(t, &emulator.Config{Hubs: []emulator.HubConfig{
		{Name: "big", PartitionCount: 1},
		{Name: "small", PartitionCount: 1, MaxEventSize: 64 << 10},
	}})
	raw := dialRaw(t, srv, 0)
	big := uint32(emulator.DefaultMaxLinkInFlightBytes / emulator.DefaultMaxEventSize)
	for i, c := range []struct {
		hub  string
		want uint32
	}{
		{"big", big},
		{"small", min(emulator.DefaultMaxLinkInFlightBytes/(64<<10), 1000)},
	} {
		handle := uint32(i)
		if got := raw.attachSender(handle, c.hub); got != c.want {
			t.Errorf("hub %s: credit %d, want %d", c.hub, got, c.want)
		}
	}
	// Credit comes back as deliveries are stored: after all of the big
	// hub's, the client may send as many again.
	for id := range big {
		raw.transfer(0, id, true, false, message(t, "e"))
	}
	raw.until("credit for as many deliveries again", func(p amqp.Performative) bool {
		f, ok := p.(*amqp.Flow)
		return ok && f.Handle != nil && *f.Handle == 0 && *f.DeliveryCount+*f.LinkCredit == 2*big
	})
}

// TestUnfinishedDeliveriesCountAgainstTheBudget: the server's budget of
// bytes in flight counts a delivery from its first frame, so deliveries
// that never end fill it; credit then stops, a delivery sent anyway waits
// for room and, when none comes, is refused with com.microsoft:server-busy,
// which the SDKs retry; once the bytes are given back (the link holding
// them detaches), the link that waited gets credit and its send is
// stored. Without the budget each link got credit for 1000 deliveries and
// every byte was held.
func TestUnfinishedDeliveriesCountAgainstTheBudget(t *testing.T) {
	const mib = 1 << 20
	srv := start(t, &emulator.Config{MaxInFlightBytes: 2 * mib})
	raw := dialRaw(t, srv, 0)
	if credit := raw.attachSender(0, "eh1/Partitions/0"); credit != 2 {
		t.Fatalf("first link: credit %d, want 2 (the server's budget holds two 1 MiB events)", credit)
	}
	raw.sendUnfinished(0, 0, mib)
	waitStats(t, srv, "first unfinished delivery held", func(s emulator.Stats) bool { return s.InFlightBytes == mib })
	if credit := raw.attachSender(1, "eh1/Partitions/0"); credit != 1 {
		t.Fatalf("second link: credit %d, want 1", credit)
	}
	raw.sendUnfinished(1, 1, mib)
	waitStats(t, srv, "both unfinished deliveries held", func(s emulator.Stats) bool { return s.InFlightBytes == 2*mib })

	if credit := raw.attachSender(2, "eh1/Partitions/0"); credit != 0 {
		t.Fatalf("third link, with the budget full: credit %d, want none", credit)
	}
	raw.transfer(2, 2, true, false, message(t, "regardless of credit"))
	rej, ok := raw.outcome(2).(*amqp.Rejected)
	if !ok || rej.Error == nil || rej.Error.Condition != "com.microsoft:server-busy" || !strings.Contains(rej.Error.Description, "MaxInFlightBytes") {
		t.Fatalf("a delivery past the budget: %#v, want rejected as com.microsoft:server-busy, naming MaxInFlightBytes", rej)
	}
	if s := srv.Stats(); s.Throttled != 1 || s.InFlightBytes != 2*mib {
		t.Fatalf("after the refusal: throttled %d, in flight %d; want 1 and 2 MiB", s.Throttled, s.InFlightBytes)
	}

	raw.send(&amqp.Detach{Handle: 0, Closed: true})
	raw.until("credit for the waiting link", func(p amqp.Performative) bool {
		f, ok := p.(*amqp.Flow)
		return ok && f.Handle != nil && *f.Handle == 2 && *f.LinkCredit > 0
	})
	raw.transfer(2, 3, true, false, message(t, "with credit"))
	if state := raw.outcome(3); !isAccepted(state) {
		t.Fatalf("a delivery once the budget has room: %#v, want accepted", state)
	}
	waitStats(t, srv, "the detached link's bytes given back", func(s emulator.Stats) bool { return s.InFlightBytes == mib })
}

// TestDeliveriesWaitForRoomInTheBudget: a delivery that starts when the
// server's budget is full waits for room, holding up its connection (the
// client is held back by TCP), and is stored once room comes, here when
// another connection's link that held the budget detaches: a client that
// keeps to its credit is slowed, not refused. Refusing at once, credit
// given to several links from the same free bytes turned into refusals of
// sends no client had done anything wrong with.
func TestDeliveriesWaitForRoomInTheBudget(t *testing.T) {
	const mib = 1 << 20
	srv := start(t, &emulator.Config{MaxInFlightBytes: mib})
	// Both links get credit for one delivery from the same free MiB.
	sender, holder := dialRaw(t, srv, 0), dialRaw(t, srv, 0)
	if credit := sender.attachSender(0, "eh1/Partitions/1"); credit != 1 {
		t.Fatalf("sender: credit %d, want 1", credit)
	}
	if credit := holder.attachSender(0, "eh1/Partitions/0"); credit != 1 {
		t.Fatalf("holder: credit %d, want 1", credit)
	}
	holder.sendUnfinished(0, 0, mib)
	waitStats(t, srv, "the unfinished delivery held", func(s emulator.Stats) bool { return s.InFlightBytes == mib })

	sender.transfer(0, 0, true, false, message(t, "waits"))
	waitStats(t, srv, "the delivery held back", func(s emulator.Stats) bool { return s.HeldBack == 1 })
	holder.send(&amqp.Detach{Handle: 0, Closed: true})
	if state := sender.outcome(0); !isAccepted(state) {
		t.Fatalf("the delivery that waited for room: %#v, want accepted", state)
	}
	if s := srv.Stats(); s.Throttled != 0 || s.HeldBack != 0 {
		t.Fatalf("throttled %d, held back %d; want none", s.Throttled, s.HeldBack)
	}
}
