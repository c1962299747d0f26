package emulator_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
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

// TestConnectionSessionAndLinkCaps: past MaxConnections, a connection is
// closed after its handshake, past MaxSessionsPerConnection a session is
// ended, past MaxLinksPerConnection an attach is refused, each with the
// service's amqp:resource-limit-exceeded and a description naming the
// setting; what was refused is available again once something closes.
// Without the caps a client could open connections, sessions and links
// until the emulator ran out of memory or file descriptors.
func TestConnectionSessionAndLinkCaps(t *testing.T) {
	srv := start(t, &emulator.Config{MaxConnections: 2, MaxSessionsPerConnection: 2, MaxLinksPerConnection: 3})
	ctx := testCtx(t, 60*time.Second)
	dial := func() *goamqp.Conn {
		t.Helper()
		c, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	wantLimit := func(what string, err error, setting string) {
		t.Helper()
		var ae *goamqp.Error
		if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondResourceLimitExceeded || !strings.Contains(ae.Description, setting) {
			t.Fatalf("%s: %v, want amqp:resource-limit-exceeded naming %s", what, err, setting)
		}
	}

	first, second := dial(), dial()
	// The close may come before the open exchange ends, or after it.
	third, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err == nil {
		defer third.Close()
		_, err = third.NewSession(ctx, nil)
	}
	var ce *goamqp.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("a third connection: %v, want it closed", err)
	}
	wantLimit("a third connection", ce.RemoteErr, "MaxConnections")
	if s := srv.Stats(); s.ConnectionsRefused != 1 || s.OpenConnections > 2 {
		t.Fatalf("refused %d, open %d; want 1 and at most 2", s.ConnectionsRefused, s.OpenConnections)
	}
	second.Close()
	waitStats(t, srv, "the closed connection gone", func(s emulator.Stats) bool { return s.OpenConnections == 1 })
	if _, err := dial().NewSession(ctx, nil); err != nil {
		t.Fatalf("a connection once one closed: %v", err)
	}

	var sessions []*goamqp.Session
	for range 3 {
		s, err := first.NewSession(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	_, err = sessions[2].NewSender(ctx, "eh1", nil)
	var se *goamqp.SessionError
	if !errors.As(err, &se) {
		t.Fatalf("a link on a third session: %v, want the session ended", err)
	}
	wantLimit("a third session", se.RemoteErr, "MaxSessionsPerConnection")
	if err := sessions[1].Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := first.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sessions[1] = s

	var senders []*goamqp.Sender
	for i := range 3 {
		snd, err := sessions[i%2].NewSender(ctx, "eh1", nil)
		if err != nil {
			t.Fatalf("link %d: %v", i, err)
		}
		senders = append(senders, snd)
	}
	_, err = sessions[0].NewSender(ctx, "eh1", nil)
	wantLimit("a fourth link", err, "MaxLinksPerConnection")
	if err := senders[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions[0].NewSender(ctx, "eh1", nil); err != nil {
		t.Fatalf("a link once one detached: %v", err)
	}
}

// TestRefusalsLeftOpenEndTheConnection: refused links wait for the client's
// detach; a client that attaches on and on without detaching what was
// refused has its connection closed, so that refusals do not pile up
// either.
func TestRefusalsLeftOpenEndTheConnection(t *testing.T) {
	srv := start(t, &emulator.Config{MaxLinksPerConnection: 1})
	raw := dialRaw(t, srv, 0)
	raw.attachReceiver(0, "eh1/ConsumerGroups/$Default/Partitions/0")
	for h := uint32(1); ; h++ {
		if h > 1000 {
			t.Fatal("1000 refused links left attached and the connection still open")
		}
		raw.send(&amqp.Attach{Name: fmt.Sprint("receiver-", h), Handle: h, Role: amqp.RoleReceiver,
			Source: &amqp.Source{Address: "eh1/ConsumerGroups/$Default/Partitions/1"}, Target: &amqp.Target{Address: "raw"}})
		var closed *amqp.Close
		raw.until(fmt.Sprint("answer to attach ", h), func(p amqp.Performative) bool {
			switch p := p.(type) {
			case *amqp.Close:
				closed = p
				return true
			case *amqp.Attach:
				if p.Source != nil {
					t.Fatalf("link %d attached, past the limit of 1", h)
				}
			case *amqp.Detach:
				return p.Handle == h
			}
			return false
		})
		if closed != nil {
			if closed.Error == nil || closed.Error.Condition != "amqp:resource-limit-exceeded" {
				t.Fatalf("close %+v, want amqp:resource-limit-exceeded", closed.Error)
			}
			t.Logf("closed after %d refused links: %s", h-1, closed.Error.Description)
			return
		}
	}
}
