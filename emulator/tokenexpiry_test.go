package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
)

// cbsClient puts tokens on $cbs as the Go SDK does, with go-amqp: a
// sender to $cbs and a receiver of the replies, on a session of their own.
type cbsClient struct {
	snd     *goamqp.Sender
	rcv     *goamqp.Receiver
	replyTo string
	n       int
}

func newCBS(t *testing.T, ctx context.Context, conn *goamqp.Conn) *cbsClient {
	t.Helper()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &cbsClient{replyTo: "$cbs-reply-to-test"}
	if c.snd, err = sess.NewSender(ctx, "$cbs", nil); err != nil {
		t.Fatal(err)
	}
	if c.rcv, err = sess.NewReceiver(ctx, "$cbs", &goamqp.ReceiverOptions{TargetAddress: c.replyTo}); err != nil {
		t.Fatal(err)
	}
	return c
}

// put puts a token of policy app for audience, signed with key, that
// expires at expires; it returns the status code of the reply.
func (c *cbsClient) put(ctx context.Context, audience, key string, expires time.Time) (int32, error) {
	token, _ := sasToken(audience, "app", key, expires)
	code, _, err := c.putToken(ctx, audience, token, expires)
	return code, err
}

// putToken puts token for audience; it returns the status code and
// description of the reply.
func (c *cbsClient) putToken(ctx context.Context, audience, token string, expires time.Time) (int32, string, error) {
	return c.putTyped(ctx, "servicebus.windows.net:sastoken", audience, token, expires)
}

// putTyped is putToken with the token's type ("jwt" for Entra ID's).
func (c *cbsClient) putTyped(ctx context.Context, typ, audience, token string, expires time.Time) (int32, string, error) {
	c.n++
	id := fmt.Sprint("put-token-", c.n)
	msg := &goamqp.Message{
		ApplicationProperties: map[string]any{"operation": "put-token", "type": typ, "name": audience,
			"expiration": fmt.Sprint(expires.Unix())},
		Properties: &goamqp.MessageProperties{MessageID: id, ReplyTo: &c.replyTo},
		Value:      token,
	}
	if err := c.snd.Send(ctx, msg, nil); err != nil {
		return 0, "", err
	}
	reply, err := c.rcv.Receive(ctx, nil)
	if err != nil {
		return 0, "", err
	}
	c.rcv.AcceptMessage(ctx, reply)
	if reply.Properties == nil || reply.Properties.CorrelationID != id {
		return 0, "", fmt.Errorf("reply %+v does not answer %s", reply.Properties, id)
	}
	code, _ := reply.ApplicationProperties["status-code"].(int32)
	desc, _ := reply.ApplicationProperties["status-description"].(string)
	return code, desc, nil
}

// tokenFixture is an emulator with SAS policies and a go-amqp connection
// to it holding a token for eh1, with a sender to partition 0 and a
// receiver of partition 1 attached under it.
type tokenFixture struct {
	srv      *emulator.Server
	logs     *syncBuffer
	cbs      *cbsClient
	audience string
	snd      *goamqp.Sender
	rcv      *goamqp.Receiver
}

// newTokenFixture puts a token that expires at expires; the receiver
// reads partition from the start.
func newTokenFixture(t *testing.T, ctx context.Context, expires time.Time, partition string) *tokenFixture {
	t.Helper()
	srv, logs := startSAS(t)
	conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &tokenFixture{srv: srv, logs: logs, cbs: newCBS(t, ctx, conn), audience: "amqp://" + srv.Addr() + "/eh1"}
	if code, err := f.cbs.put(ctx, f.audience, testKeyAll, expires); err != nil || code != 202 {
		t.Fatalf("put-token: %d %v", code, err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.snd, err = sess.NewSender(ctx, "eh1/Partitions/0", nil); err != nil {
		t.Fatalf("sender: %v", err)
	}
	if f.rcv, err = sess.NewReceiver(ctx, "eh1/ConsumerGroups/$Default/Partitions/"+partition, &goamqp.ReceiverOptions{Credit: 100}); err != nil {
		t.Fatalf("receiver: %v", err)
	}
	return f
}

// linkLoop records what a loop over a link did until its link failed.
// Read last, err and errAt once done is closed.
type linkLoop struct {
	done  chan struct{}
	n     atomic.Int64 // sends accepted, or events received
	last  time.Time    // the enqueued time of the last event received
	err   error
	errAt time.Time
}

// sendEvery sends an event every period until a send fails or the time
// is up.
func sendEvery(ctx context.Context, snd *goamqp.Sender, period time.Duration, until time.Time) *linkLoop {
	l := &linkLoop{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for ; time.Now().Before(until); <-t.C {
			if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprint(l.n.Load()))), nil); err != nil {
				l.err, l.errAt = err, time.Now()
				return
			}
			l.n.Add(1)
		}
	}()
	return l
}

// receiveAll receives until the link fails or ctx ends.
func receiveAll(ctx context.Context, rcv *goamqp.Receiver) *linkLoop {
	l := &linkLoop{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				if ctx.Err() == nil {
					l.err, l.errAt = err, time.Now()
				}
				return
			}
			l.n.Add(1)
			l.last, _ = m.Annotations["x-opt-enqueued-time"].(time.Time)
		}
	}()
	return l
}

// expiresIn is a token expiry at least d from now, on a whole second (a
// token's se).
func expiresIn(d time.Duration) time.Time {
	return time.Now().Add(d).Truncate(time.Second).Add(time.Second)
}

// assertUnauthorizedAt checks that a loop's link was detached with
// amqp:unauthorized-access no sooner than expires and at most a second
// after it.
func assertUnauthorizedAt(t *testing.T, what string, l *linkLoop, expires time.Time) {
	t.Helper()
	var le *goamqp.LinkError
	if !errors.As(l.err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != "amqp:unauthorized-access" {
		t.Errorf("%s ended with %v, want a detach with amqp:unauthorized-access", what, l.err)
		return
	}
	if !strings.Contains(le.RemoteErr.Description, "expired and was not renewed") {
		t.Errorf("%s: the detach says %q, want why", what, le.RemoteErr.Description)
	}
	after := l.errAt.Sub(expires)
	if after < 0 || after > time.Second {
		t.Errorf("%s was detached %s after its token expired, want within 1s", what, after)
	}
	t.Logf("%s was detached %s after its token expired", what, after)
}

// TestTokenExpiryDetachesLinks: a sender and a receiver attached with a
// token of about 4 s, not renewed, are detached with
// amqp:unauthorized-access within a second of its expiry; nothing the
// sender sent after is stored, and the receiver gets nothing enqueued
// later, though another client (with a key) goes on sending.
func TestTokenExpiryDetachesLinks(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	expires := expiresIn(4 * time.Second)
	f := newTokenFixture(t, ctx, expires, "1")
	other, err := azeventhubs.NewProducerClientFromConnectionString(keyConnStr(f.srv, "app", testKeyAll), "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())

	// Were the links never detached, the loops would end with this context,
	// three seconds after the expiry.
	lctx, cancel := context.WithDeadline(ctx, expires.Add(3*time.Second))
	defer cancel()
	sent, received := sendEvery(ctx, f.snd, 100*time.Millisecond, expires.Add(3*time.Second)), receiveAll(lctx, f.rcv)
	otherSent := 0
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for lctx.Err() == nil && (!closed(sent.done) || !closed(received.done)) {
		sendBatch(t, ctx, other, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")}, &azeventhubs.EventData{Body: []byte("other")})
		otherSent++
		select {
		case <-lctx.Done():
		case <-pace.C:
		}
	}
	<-sent.done
	<-received.done
	// The other client goes on sending after both detaches: the loop above
	// may end before its next send when the detaches come quickly.
	for range 3 {
		sendBatch(t, ctx, other, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")}, &azeventhubs.EventData{Body: []byte("other")})
		otherSent++
	}
	assertUnauthorizedAt(t, "the sender", sent, expires)
	assertUnauthorizedAt(t, "the receiver", received, expires)
	if received.n.Load() == 0 || received.last.After(expires.Add(time.Second)) {
		t.Errorf("the receiver got %d events, the last enqueued %s after the token expired", received.n.Load(), received.last.Sub(expires))
	}
	if int64(otherSent) <= received.n.Load() {
		t.Errorf("the other client sent %d events, the receiver got %d: nothing was sent after the detach", otherSent, received.n.Load())
	}

	// What the sender had accepted is stored, and nothing more.
	c, err := azeventhubs.NewConsumerClientFromConnectionString(keyConnStr(f.srv, "app", testKeyAll), "eh1", "$Default", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	pp, err := c.GetPartitionProperties(ctx, "0", nil)
	if err != nil || pp.LastEnqueuedSequenceNumber+1 != sent.n.Load() {
		t.Errorf("partition 0 ends at sequence number %d (%v); the sender had %d sends accepted", pp.LastEnqueuedSequenceNumber, err, sent.n.Load())
	}
	if !strings.Contains(f.logs.String(), "its token expired and was not renewed") {
		t.Errorf("the log does not say why the links were detached:\n%s", f.logs)
	}
	assertNoSecrets(t, "the emulator's log", f.logs.String(), testKeyAll)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestTokenRenewalKeepsLinks: a sender and a receiver whose connection
// puts a new 4 s token every 2 s stay attached for 20 s, and the receiver
// gets every event the sender sent.
func TestTokenRenewalKeepsLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 20s")
	}
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	f := newTokenFixture(t, ctx, expiresIn(4*time.Second), "0")
	until := time.Now().Add(20 * time.Second)
	sent, received := sendEvery(ctx, f.snd, 200*time.Millisecond, until), receiveAll(ctx, f.rcv)
	renewals := 0
	renew := time.NewTicker(2 * time.Second)
	defer renew.Stop()
	for !closed(sent.done) {
		select {
		case <-sent.done:
		case <-renew.C:
			// The same expiry as a new 4 s token, at most, whatever second it is.
			code, err := f.cbs.put(ctx, f.audience, testKeyAll, time.Now().Add(4*time.Second).Truncate(time.Second))
			if err != nil || code != 202 {
				t.Fatalf("renewal %d: %d %v", renewals+1, code, err)
			}
			renewals++
		}
	}
	<-sent.done
	if sent.err != nil {
		t.Fatalf("the sender failed after %d sends: %v", sent.n.Load(), sent.err)
	}
	// The receiver catches up with what was sent, then goes on waiting.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for caughtUp := false; !caughtUp; {
		select {
		case <-received.done:
			t.Fatalf("the receiver failed after %d of %d events: %v", received.n.Load(), sent.n.Load(), received.err)
		case <-deadline.C:
			t.Fatalf("the receiver got %d of %d events within 10s", received.n.Load(), sent.n.Load())
		case <-poll.C:
			caughtUp = received.n.Load() == sent.n.Load()
		}
	}
	if renewals < 9 || sent.n.Load() < 80 {
		t.Fatalf("%d renewals and %d sends in 20s: the test proves little", renewals, sent.n.Load())
	}
	t.Logf("%d sends and %d renewals of a 4s token in 20s", sent.n.Load(), renewals)
}

// TestTokenExpirySDK: the Go SDK with a connection string holding a token
// of about 4 s (which it cannot renew) sends and receives until the token
// expires, then gets the unauthorized error within a second, on both
// links; a client with a key, whose tokens the SDK renews, is not
// affected.
func TestTokenExpirySDK(t *testing.T) {
	t.Parallel()
	srv, _ := startSAS(t)
	ctx := testCtx(t, 30*time.Second)
	expires := expiresIn(4 * time.Second)
	token, _ := sasToken("sb://"+srv.Addr()+"/eh1", "app", testKeyAll, expires)
	p, err := azeventhubs.NewProducerClientFromConnectionString(sasConnStr(srv, token), "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	c, err := azeventhubs.NewConsumerClientFromConnectionString(sasConnStr(srv, token), "eh1", "$Default", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	pc, err := c.NewPartitionClient("1", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	keyed := producer(t, srv, "eh1") // the server's own string, with the key

	// Were the links never detached, the loops would end with this context,
	// three seconds after the expiry.
	var wg sync.WaitGroup
	var sendErr, recvErr error
	var sendErrAt, recvErrAt time.Time
	lctx, cancel := context.WithDeadline(ctx, expires.Add(3*time.Second))
	defer cancel()
	wg.Go(func() {
		pace := time.NewTicker(50 * time.Millisecond)
		defer pace.Stop()
		for ; lctx.Err() == nil; <-pace.C {
			b, err := p.NewEventDataBatch(lctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")})
			if err == nil {
				b.AddEventData(&azeventhubs.EventData{Body: []byte("x")}, nil)
				err = p.SendEventDataBatch(lctx, b, nil)
			}
			if err != nil {
				sendErr, sendErrAt = err, time.Now()
				return
			}
		}
	})
	wg.Go(func() {
		for lctx.Err() == nil {
			rctx, rcancel := context.WithTimeout(lctx, 200*time.Millisecond)
			_, err := pc.ReceiveEvents(rctx, 10, nil)
			rcancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				recvErr, recvErrAt = err, time.Now()
				return
			}
		}
	})
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	pace := time.NewTicker(50 * time.Millisecond)
	defer pace.Stop()
	for !closed(finished) {
		sendBatch(t, ctx, keyed, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")}, &azeventhubs.EventData{Body: []byte("keyed")})
		select {
		case <-finished:
		case <-pace.C:
		}
	}
	for what, e := range map[string]struct {
		err error
		at  time.Time
	}{"send": {sendErr, sendErrAt}, "receive": {recvErr, recvErrAt}} {
		if !unauthorized(e.err) {
			t.Errorf("%s: %v, want the SDK's unauthorized error", what, e.err)
			continue
		}
		after := e.at.Sub(expires)
		if after < 0 || after > time.Second {
			t.Errorf("%s failed %s after the token expired, want within 1s", what, after)
		}
		t.Logf("the SDK's %s failed %s after the token expired: %v", what, after, e.err)
	}
	sendBatch(t, ctx, keyed, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")}, &azeventhubs.EventData{Body: []byte("after")})
}
