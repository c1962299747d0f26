package emulator_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
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

// pyToken signs resource as pyamqp does: quote_plus of the resource,
// upper-case escapes.
func pyToken(resource, policy, key string, expires time.Time) string {
	sr := url.QueryEscape(resource)
	se := fmt.Sprint(expires.Unix())
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + policy
}

// rawRPC is a request and reply link pair to $cbs or $management on a raw
// client, on handles h and h+1.
type rawRPC struct {
	raw    *rawClient
	h      uint32
	nextID *uint32 // the session's next delivery-id, shared by pairs
}

func openRawRPC(raw *rawClient, node string, h uint32, nextID *uint32) rawRPC {
	raw.t.Helper()
	reply := fmt.Sprint("reply-", h)
	raw.send(&amqp.Attach{Name: fmt.Sprint("req-", h), Handle: h, Role: amqp.RoleSender,
		Source: &amqp.Source{Address: reply}, Target: &amqp.Target{Address: node}})
	raw.until("attach of "+node, func(p amqp.Performative) bool { a, ok := p.(*amqp.Attach); return ok && a.Handle == h })
	raw.send(&amqp.Attach{Name: reply, Handle: h + 1, Role: amqp.RoleReceiver,
		Source: &amqp.Source{Address: node}, Target: &amqp.Target{Address: reply}})
	raw.until("attach of "+node+"'s replies", func(p amqp.Performative) bool { a, ok := p.(*amqp.Attach); return ok && a.Handle == h+1 })
	raw.flow(h+1, 0, 100, false, false)
	return rawRPC{raw: raw, h: h, nextID: nextID}
}

// call sends a request with the application properties and value, and
// returns the response's status code and description.
func (r rawRPC) call(app amqp.Map, value any) (int32, string) {
	r.raw.t.Helper()
	id := *r.nextID
	*r.nextID++
	payload, err := amqp.AppendMessage(nil, &amqp.Message{
		Properties:            &amqp.Properties{MessageID: fmt.Sprint("m", id), ReplyTo: fmt.Sprint("reply-", r.h)},
		ApplicationProperties: app, Value: value, HasValue: value != nil})
	if err != nil {
		r.raw.t.Fatal(err)
	}
	r.raw.send(&amqp.Transfer{Handle: r.h, DeliveryID: &id, DeliveryTag: []byte{byte(id)}, Settled: true, Payload: payload})
	var status int32
	var desc string
	r.raw.until("response", func(p amqp.Performative) bool {
		tr, ok := p.(*amqp.Transfer)
		if !ok || tr.Handle != r.h+1 {
			return false
		}
		m, err := amqp.DecodeMessage(tr.Payload)
		if err != nil {
			r.raw.t.Fatalf("response: %v", err)
		}
		if m.Properties == nil || m.Properties.CorrelationID != fmt.Sprint("m", id) {
			r.raw.t.Fatalf("response %+v to another request", m.Properties)
		}
		s, _ := m.ApplicationProperties.Get("status-code")
		status, _ = s.(int32)
		d, _ := m.ApplicationProperties.Get("status-description")
		desc, _ = d.(string)
		return true
	})
	return status, desc
}

// TestManagementReservedDescriptor: pyamqp sends the security_token of a
// $management request as a value described by the token, a binary (a
// reserved descriptor type, not an invalid one). The request is answered;
// with SAS policies the token is read from the descriptor and checked.
func TestManagementReservedDescriptor(t *testing.T) {
	const key = "cHl0aG9uLWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpams="
	exp := time.Now().Add(time.Hour)
	read := func(token string) amqp.Map {
		return amqp.Map{{Key: "operation", Value: "READ"}, {Key: "name", Value: "eh1"}, {Key: "type", Value: "com.microsoft:eventhub"},
			{Key: "security_token", Value: amqp.Described{Descriptor: []byte(token), Value: int32(exp.Unix())}}}
	}
	t.Run("development mode", func(t *testing.T) {
		raw := dialRaw(t, start(t, nil), 0)
		var id uint32
		mgmt := openRawRPC(raw, "$management", 0, &id)
		if status, desc := mgmt.call(read(pyToken("sb://localhost/eh1", "any", "any", exp)), nil); status != 200 {
			t.Fatalf("READ with a binary-described security_token: %d %s", status, desc)
		}
	})
	t.Run("SAS", func(t *testing.T) {
		srv := start(t, &emulator.Config{SASPolicies: []emulator.SASPolicy{{Name: "py", Key: key}}})
		raw := dialRaw(t, srv, 0)
		var id uint32
		cbs := openRawRPC(raw, "$cbs", 0, &id)
		put := amqp.Map{{Key: "operation", Value: "put-token"}, {Key: "type", Value: "servicebus.windows.net:sastoken"}, {Key: "name", Value: "sb://localhost/eh1"}}
		if status, desc := cbs.call(put, pyToken("sb://localhost/eh1", "py", key, exp)); status != 202 {
			t.Fatalf("put-token: %d %s", status, desc)
		}
		mgmt := openRawRPC(raw, "$management", 2, &id)
		if status, desc := mgmt.call(read(pyToken("sb://localhost/eh1", "py", key, exp)), nil); status != 200 {
			t.Fatalf("READ with a good binary-described security_token: %d %s", status, desc)
		}
		status, desc := mgmt.call(read(pyToken("sb://localhost/eh1", "py", "d3Jvbmcta2V5", exp)), nil)
		if status != 401 || !strings.Contains(desc, "bad signature") {
			t.Fatalf("READ with a binary-described security_token signed with another key: %d %s, want 401 bad signature", status, desc)
		}
	})
}

// TestPutTokenTypeJWT: pyamqp puts shared access signatures with type
// "jwt"; the token says what it is, so it is checked as a SAS token and
// opens links. A real JWT is refused with a message saying so.
func TestPutTokenTypeJWT(t *testing.T) {
	const key = "cHl0aG9uLWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpams="
	srv := start(t, &emulator.Config{SASPolicies: []emulator.SASPolicy{{Name: "py", Key: key}}})
	raw := dialRaw(t, srv, 0)
	var id uint32
	cbs := openRawRPC(raw, "$cbs", 0, &id)
	exp := time.Now().Add(time.Hour)
	put := func(audience string) amqp.Map {
		return amqp.Map{{Key: "operation", Value: "put-token"}, {Key: "type", Value: "jwt"}, {Key: "name", Value: audience},
			{Key: "expiration", Value: exp.UTC().Truncate(time.Millisecond)}}
	}
	aud := "sb://localhost:5671/eh1"
	if status, desc := cbs.call(put(aud), pyToken(aud, "py", key, exp)); status != 202 {
		t.Fatalf("put-token of type jwt carrying a SAS token: %d %s, want 202", status, desc)
	}
	raw.attachReceiver(2, "amqps://localhost:5671/eh1/ConsumerGroups/$Default/Partitions/0")
	if status, desc := cbs.call(put(aud), pyToken(aud, "py", "d3Jvbmcta2V5", exp)); status != 401 || !strings.Contains(desc, "bad signature") {
		t.Fatalf("put-token of type jwt carrying a SAS token with another key: %d %s, want 401 bad signature", status, desc)
	}
	status, desc := cbs.call(put(aud), "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2V2ZW50aHVicy5henVyZS5uZXQvIn0.c2ln")
	if status != 401 || !strings.Contains(desc, "JWT bearer token") {
		t.Fatalf("put-token of a real JWT: %d %s, want 401 saying JWT bearer tokens are not checked", status, desc)
	}
	t.Logf("a real JWT: %s", desc)
	// $cbs named by URL needs no token, as $cbs does.
	byURL := openRawRPC(raw, "amqps://localhost:5671/$cbs", 4, &id)
	if status, desc := byURL.call(put(aud), pyToken(aud, "py", key, exp)); status != 202 {
		t.Fatalf("put-token on $cbs named by URL: %d %s, want 202", status, desc)
	}
}
