package emulator_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// This file has what the official Python SDK (azure-eventhub 5.11, its
// pyamqp) sends that Go and JavaScript do not, one test each, so that
// each stays fixed without Python on the machine. python_sdk_test.go runs
// the SDK itself.

// TestLinkAddressURLs: links may name their entity by URL, as pyamqp
// does (amqps://host/eh1/Partitions/1), or sb://; the host is not checked.
// A URL of an entity that does not exist, or of another scheme, is refused
// at attach with the address in the error.
func TestLinkAddressURLs(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, target := range []string{"amqps://localhost/eh1/Partitions/1", "sb://127.0.0.1:5671/EH1/partitions/1", "eh1/Partitions/1"} {
		snd, err := sess.NewSender(ctx, target, nil)
		if err != nil {
			t.Fatalf("sender to %s: %v", target, err)
		}
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprint("event-", i))), nil); err != nil {
			t.Fatalf("send to %s: %v", target, err)
		}
		snd.Close(ctx)
	}
	// A hub's URL: the emulator picks the partition.
	snd, err := sess.NewSender(ctx, "amqps://somewhere.example:5671/eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("anywhere")), nil); err != nil {
		t.Fatal(err)
	}

	rcv, err := sess.NewReceiver(ctx, "amqps://localhost/eh1/ConsumerGroups/$Default/Partitions/1", &goamqp.ReceiverOptions{
		Credit: 10, Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("amqp.annotation.x-opt-offset > '-1'")}})
	if err != nil {
		t.Fatalf("receiver by URL: %v", err)
	}
	for i := range 3 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(m.GetData()), fmt.Sprint("event-", i); got != want || m.Annotations["x-opt-sequence-number"] != int64(i) {
			t.Fatalf("event %d: %q at %v, want %q", i, got, m.Annotations["x-opt-sequence-number"], want)
		}
	}

	for _, tc := range []struct{ addr, want string }{
		{"amqps://localhost/nosuchhub", "'nosuchhub' could not be found"},
		{"amqps://localhost/eh1/Partitions/7", "Partition '7'"},
		{"amqps://localhost", "'amqps://localhost' is not an event hub address"},
		{"http://localhost/eh1", "scheme 'http'"},
	} {
		_, err := sess.NewSender(ctx, tc.addr, nil)
		var ae *goamqp.Error
		if !errors.As(err, &ae) || ae.Condition != "amqp:not-found" || !strings.Contains(ae.Description, tc.want) {
			t.Errorf("sender to %s: %v, want amqp:not-found saying %q", tc.addr, err, tc.want)
		}
	}
	_, err = sess.NewReceiver(ctx, "sb://localhost/eh1/ConsumerGroups/nosuch/Partitions/0", nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != "amqp:not-found" || !strings.Contains(ae.Description, "consumer group 'nosuch'") {
		t.Errorf("receiver of an unknown group by URL: %v", err)
	}
}

// TestAttachRepliesEchoProperties: the attach that answers a producer
// link carries the client's link properties back, as on consumer links,
// and so does the attach of a reader refused for its owner level: pyamqp
// merges them into its own with dict.update, which fails on a null
// ("'NoneType' object is not iterable").
func TestAttachRepliesEchoProperties(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{"com.microsoft:timeout": int64(60000), "user-agent": "pyamqp"}
	snd, err := sess.NewSender(ctx, "eh1", &goamqp.SenderOptions{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	if got := snd.Properties(); !reflect.DeepEqual(got, props) {
		t.Fatalf("producer attach reply has properties %v, want %v", got, props)
	}

	raw := dialRaw(t, srv, 0)
	epoch := func(n int64) amqp.Map { return amqp.Map{{Key: amqp.Symbol("com.microsoft:epoch"), Value: n}} }
	raw.send(&amqp.Attach{Name: "high", Handle: 0, Role: amqp.RoleReceiver, Properties: epoch(2),
		Source: &amqp.Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0"}, Target: &amqp.Target{Address: "me"}})
	raw.until("attach of the owner", func(p amqp.Performative) bool { _, ok := p.(*amqp.Attach); return ok })
	raw.send(&amqp.Attach{Name: "low", Handle: 1, Role: amqp.RoleReceiver, Properties: epoch(1),
		Source: &amqp.Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0"}, Target: &amqp.Target{Address: "me"}})
	var reply *amqp.Attach
	raw.until("refusal of the lower owner level", func(p amqp.Performative) bool {
		switch p := p.(type) {
		case *amqp.Attach:
			reply = p
		case *amqp.Detach:
			return p.Handle == 1
		}
		return false
	})
	if reply == nil || reply.Source == nil {
		t.Fatalf("the lower owner level was answered with %+v, want an attach with its source, then the detach", reply)
	}
	if !reflect.DeepEqual(reply.Properties, epoch(1)) {
		t.Fatalf("the refused reader's attach reply has properties %v, want %v", reply.Properties, epoch(1))
	}
}
