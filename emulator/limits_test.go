package emulator_test

import (
	"testing"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// TestUnreadRepliesEndTheReplyLink: a client that sends $management
// requests but never gives its reply link credit cannot make the emulator
// queue responses without end: past a small number the reply link is
// detached with amqp:resource-limit-exceeded. The connection goes on.
func TestUnreadRepliesEndTheReplyLink(t *testing.T) {
	srv := start(t, nil)
	raw := dialRaw(t, srv, 0)
	raw.send(&amqp.Attach{Name: "requests", Handle: 0, Role: amqp.RoleSender,
		Source: &amqp.Source{Address: "me"}, Target: &amqp.Target{Address: "$management"}})
	raw.until("attach of the request link", func(p amqp.Performative) bool { _, ok := p.(*amqp.Attach); return ok })
	raw.send(&amqp.Attach{Name: "replies", Handle: 1, Role: amqp.RoleReceiver,
		Source: &amqp.Source{Address: "$management"}, Target: &amqp.Target{Address: "me"}})
	raw.until("attach of the reply link", func(p amqp.Performative) bool { _, ok := p.(*amqp.Attach); return ok })

	request, err := amqp.AppendMessage(nil, &amqp.Message{
		Properties: &amqp.Properties{MessageID: "m", ReplyTo: "me"},
		ApplicationProperties: amqp.Map{{Key: "operation", Value: "READ"}, {Key: "name", Value: "eh1"},
			{Key: "type", Value: "com.microsoft:eventhub"}}})
	if err != nil {
		t.Fatal(err)
	}
	var frames []byte
	for id := uint32(0); id < 1000; id++ {
		frames, err = amqp.AppendPerformativeFrame(frames, amqp.FrameAMQP, 0, &amqp.Transfer{
			Handle: 0, DeliveryID: &id, DeliveryTag: []byte{byte(id), byte(id >> 8)}, Settled: true, Payload: request})
		if err != nil {
			t.Fatal(err)
		}
	}
	written := make(chan error, 1)
	go func() { // the emulator's replies may fill the socket before it reads all requests
		_, err := raw.nc.Write(frames)
		written <- err
	}()
	raw.until("detach of the reply link", func(p amqp.Performative) bool {
		d, ok := p.(*amqp.Detach)
		if !ok {
			return false
		}
		if d.Handle != 1 || d.Error == nil || d.Error.Condition != "amqp:resource-limit-exceeded" {
			t.Fatalf("detach %+v, want the reply link's with amqp:resource-limit-exceeded", d)
		}
		t.Logf("reply link ended: %s", d.Error.Description)
		return true
	})
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	// The connection still serves: a link on the same session attaches.
	raw.attachReceiver(2, "eh1/ConsumerGroups/$Default/Partitions/0")
}
