package emulator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/internal/entratest"
)

// startJWT runs an emulator over TLS that takes the tokens of an issuer,
// with principal "app" an owner and "sender" a sender; it returns the
// issuer and the SDK's options to reach the emulator as namespace
// "localhost".
func startJWT(t *testing.T) (*emulator.Server, *entratest.Issuer, azeventhubs.ConsumerClientOptions) {
	t.Helper()
	iss, err := entratest.NewIssuer("test-key")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := emulator.ParseJWKS(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	srv, ss := startTLS(t, &emulator.Config{JWTKeys: keys, JWTRoles: []emulator.JWTRole{
		{Principal: "app", Rights: emulator.AllRights}, {Principal: "sender", Rights: emulator.RightSend}}})
	return srv, iss, azeventhubs.ConsumerClientOptions{CustomEndpoint: srv.TLSAddr(), TLSConfig: ss.ClientConfig("localhost")}
}

// TestJWTGoSDK: the official Go SDK signs in with a TokenCredential (the
// path of Microsoft Entra ID) over TLS: an owner sends, receives and reads
// properties; a sender sends but cannot receive; the refusal names the
// missing claim at once, and no error or log shows a token.
func TestJWTGoSDK(t *testing.T) {
	srv, iss, opts := startJWT(t)
	ctx := testCtx(t, 60*time.Second)
	app := &entratest.Credential{Issuer: iss, Principal: "app", Lifetime: time.Hour}
	sender := &entratest.Credential{Issuer: iss, Principal: "sender", Lifetime: time.Hour}
	newProducer := func(cred azcore.TokenCredential) *azeventhubs.ProducerClient {
		p, err := azeventhubs.NewProducerClient("localhost", "eh1", cred, &azeventhubs.ProducerClientOptions{CustomEndpoint: opts.CustomEndpoint, TLSConfig: opts.TLSConfig})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(context.Background()) })
		return p
	}
	newConsumer := func(cred azcore.TokenCredential) *azeventhubs.ConsumerClient {
		o := opts
		c, err := azeventhubs.NewConsumerClient("localhost", "eh1", azeventhubs.DefaultConsumerGroup, cred, &o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	sendBatch(t, ctx, newProducer(app), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("by app")})
	sendBatch(t, ctx, newProducer(sender), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("by sender")})

	cc := newConsumer(app)
	props, err := cc.GetPartitionProperties(ctx, "0", nil)
	if err != nil || props.LastEnqueuedSequenceNumber != 1 {
		t.Fatalf("partition properties: %+v %v", props, err)
	}
	pc, err := cc.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	if got := receive(t, ctx, pc, 2); string(got[0].Body) != "by app" || string(got[1].Body) != "by sender" {
		t.Fatalf("received %q, %q", got[0].Body, got[1].Body)
	}

	began := time.Now()
	pcs, err := newConsumer(sender).NewPartitionClient("0", nil)
	if err == nil {
		_, err = pcs.ReceiveEvents(ctx, 1, nil)
		pcs.Close(context.Background())
	}
	if !unauthorized(err) || !strings.Contains(err.Error(), "'Listen' claim(s) are required") || !strings.Contains(err.Error(), "principal 'sender' does not grant Listen") {
		t.Fatalf("a sender receiving: %v, want amqp:unauthorized-access naming the missing Listen", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the refusal took %s", took)
	}
	if n := srv.Stats().ConsumerLinks; n != 1 {
		t.Errorf("%d consumer links attached, want the owner's alone", n)
	}
}

// TestJWTRefusedAtOnce: the SDK's TokenCredential path with a token for
// another audience, signed by an unknown key, or expired, fails within 2 s
// with the emulator's reason, not a timeout; the reason shows no token.
func TestJWTRefusedAtOnce(t *testing.T) {
	_, iss, opts := startJWT(t)
	other, err := entratest.NewIssuer("unknown-key")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cred *entratest.Credential
		want string
	}{
		{"wrong audience", &entratest.Credential{Issuer: iss, Principal: "app", Lifetime: time.Hour, Audience: "https://storage.azure.com/"},
			"wrong audience: the token is for 'https://storage.azure.com/', and Event Hubs takes 'https://eventhubs.azure.net/'"},
		{"unknown key", &entratest.Credential{Issuer: other, Principal: "app", Lifetime: time.Hour},
			"signed by an unknown key: key ID 'unknown-key' is not among the emulator's JWT keys (test-key)"},
		{"expired", &entratest.Credential{Issuer: iss, Principal: "app", Expired: true}, "the token expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			o := opts
			cc, err := azeventhubs.NewConsumerClient("localhost", "eh1", azeventhubs.DefaultConsumerGroup, tc.cred, &o)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close(context.Background())
			began := time.Now()
			_, err = cc.GetEventHubProperties(ctx, nil)
			took := time.Since(began)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("GetEventHubProperties: %v, want %q", err, tc.want)
			}
			if took > 2*time.Second {
				t.Errorf("refused after %s, want within 2s", took)
			}
			if tok, _ := tc.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://eventhubs.azure.net//.default"}}); strings.Contains(err.Error(), strings.Split(tok.Token, ".")[2]) {
				t.Errorf("the error shows a token's signature: %v", err)
			}
		})
	}
}

// TestJWTExpiryDetachesLinks: links attached under a JWT of some 3 s,
// not renewed, are detached with amqp:unauthorized-access within a second
// of its expiry, as links of a SAS token are.
func TestJWTExpiryDetachesLinks(t *testing.T) {
	srv, iss, _ := startJWT(t)
	ctx := testCtx(t, 30*time.Second)
	conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expires := expiresIn(3 * time.Second)
	tok, err := iss.Mint(entratest.Token{Audience: emulator.EventHubsAudience, Principal: "app", Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	if code, desc, err := newCBS(t, ctx, conn).putTyped(ctx, "jwt", "amqp://localhost/eh1", tok, expires); err != nil || code != 202 {
		t.Fatalf("put-token: %d %q %v", code, desc, err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "eh1/Partitions/0", nil)
	if err != nil {
		t.Fatalf("sender: %v", err)
	}
	rcv, err := sess.NewReceiver(ctx, "eh1/ConsumerGroups/$Default/Partitions/0", &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	sending, receiving := sendEvery(ctx, snd, 100*time.Millisecond, expires.Add(5*time.Second)), receiveAll(ctx, rcv)
	<-sending.done
	<-receiving.done
	assertUnauthorizedAt(t, "the sender", sending, expires)
	assertUnauthorizedAt(t, "the receiver", receiving, expires)
	if sending.n.Load() == 0 || receiving.n.Load() == 0 {
		t.Errorf("%d sent, %d received before the expiry: the token did not let the links work", sending.n.Load(), receiving.n.Load())
	}
}
