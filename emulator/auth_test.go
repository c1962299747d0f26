package emulator_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// Keys of the test policies: each must never appear in any output.
const (
	testKeyAll    = "c2VjcmV0LWtleS1vZi1hbGwtcmlnaHRzLTAxMjM0NTY3OA=="
	testKeyListen = "bGlzdGVuLW9ubHkta2V5LTAxMjM0NTY3ODlhYmNkZWY="
	testKeyWrong  = "d3Jvbmcta2V5LW5vdC1vZi1hbnktcG9saWN5LTAxMjM="
)

// startSAS runs an emulator with policy "app" (all rights) and "reader"
// (listen only), hubs eh1 and eh2, logging at debug level into the buffer.
func startSAS(t *testing.T) (*emulator.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	srv := start(t, &emulator.Config{
		Hubs: []emulator.HubConfig{{Name: "eh1", PartitionCount: 2}, {Name: "eh2", PartitionCount: 1}},
		SASPolicies: []emulator.SASPolicy{
			{Name: "app", Key: testKeyAll},
			{Name: "reader", Key: testKeyListen, Rights: emulator.RightListen},
		},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return srv, logs
}

// keyConnStr is a connection string with a policy's name and a key.
func keyConnStr(srv *emulator.Server, policy, key string) string {
	return "Endpoint=sb://" + srv.Addr() + ";SharedAccessKeyName=" + policy + ";SharedAccessKey=" + key + ";UseDevelopmentEmulator=true"
}

// sasToken signs resource as the Go SDK does: the resource URL-encoded and
// lower-cased, then HMAC-SHA256 under the key, base64, URL-encoded.
func sasToken(resource, policy, key string, expires time.Time) (token, sig string) {
	sr := strings.ToLower(url.QueryEscape(resource))
	se := fmt.Sprint(expires.Unix())
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	sig = url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + policy, sig
}

// sasConnStr is a connection string carrying a ready token.
func sasConnStr(srv *emulator.Server, token string) string {
	return "Endpoint=sb://" + srv.Addr() + ";SharedAccessSignature=" + token + ";UseDevelopmentEmulator=true"
}

// assertNoSecrets fails when any secret appears in what was printed.
func assertNoSecrets(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), strings.ToLower(url.QueryEscape(s))} {
			if strings.Contains(text, form) {
				t.Errorf("%s shows a secret (%.6s...):\n%s", where, s, text)
			}
		}
	}
}

// TestSASRightKeyAndTokenWork: with policies configured, the Go SDK with
// the right key, and with a SharedAccessSignature connection string,
// sends, receives and reads properties.
func TestSASRightKeyAndTokenWork(t *testing.T) {
	srv, logs := startSAS(t)
	ctx := testCtx(t, 60*time.Second)
	token, sig := sasToken("sb://"+srv.Addr()+"/eh1", "app", testKeyAll, time.Now().Add(time.Hour))
	for _, tc := range []struct{ name, connStr string }{
		{"key", keyConnStr(srv, "app", testKeyAll)},
		{"token", sasConnStr(srv, token)},
		{"server's own string", srv.ConnectionString("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := azeventhubs.NewProducerClientFromConnectionString(tc.connStr, "eh1", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			sendBatch(t, ctx, p, nil, &azeventhubs.EventData{Body: []byte(tc.name + "-any")})
			sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte(tc.name)})
			if _, err := p.GetEventHubProperties(ctx, nil); err != nil {
				t.Fatalf("producer's hub properties: %v", err)
			}
			c, err := azeventhubs.NewConsumerClientFromConnectionString(tc.connStr, "eh1", "$Default", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			hp, err := c.GetEventHubProperties(ctx, nil)
			if err != nil || len(hp.PartitionIDs) != 2 {
				t.Fatalf("hub properties: %+v %v", hp, err)
			}
			pp, err := c.GetPartitionProperties(ctx, "0", nil)
			if err != nil {
				t.Fatalf("partition properties: %v", err)
			}
			pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{SequenceNumber: &pp.LastEnqueuedSequenceNumber, Inclusive: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close(context.Background())
			if got := receive(t, ctx, pc, 1); string(got[0].Body) != tc.name {
				t.Fatalf("received %q, want %q", got[0].Body, tc.name)
			}
		})
	}
	assertNoSecrets(t, "the emulator's log", logs.String(), testKeyAll, testKeyListen, sig)
}

// TestSASRefusals: with policies configured, a wrong key, an expired
// token, a listen-only policy sending and a token for another hub each
// fail fast with the SDK's unauthorized error, and neither the error nor
// the emulator's log shows a key or a signature.
func TestSASRefusals(t *testing.T) {
	srv, logs := startSAS(t)
	expired, expiredSig := sasToken("sb://"+srv.Addr()+"/eh1", "app", testKeyAll, time.Now().Add(-time.Minute))
	otherHub, otherSig := sasToken("sb://"+srv.Addr()+"/eh2", "app", testKeyAll, time.Now().Add(time.Hour))
	secrets := []string{testKeyAll, testKeyListen, testKeyWrong, expiredSig, otherSig}
	type op func(ctx context.Context, connStr string) error
	readProps := func(ctx context.Context, connStr string) error {
		c, err := azeventhubs.NewConsumerClientFromConnectionString(connStr, "eh1", "$Default", nil)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.GetEventHubProperties(ctx, nil)
		return err
	}
	receiveOne := func(ctx context.Context, connStr string) error {
		c, err := azeventhubs.NewConsumerClientFromConnectionString(connStr, "eh1", "$Default", nil)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		pc, err := c.NewPartitionClient("0", nil)
		if err != nil {
			return err
		}
		defer pc.Close(context.Background())
		_, err = pc.ReceiveEvents(ctx, 1, nil)
		return err
	}
	send := func(partition *string) op {
		return func(ctx context.Context, connStr string) error {
			p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "eh1", nil)
			if err != nil {
				return err
			}
			defer p.Close(context.Background())
			b, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: partition})
			if err != nil {
				return err
			}
			if err := b.AddEventData(&azeventhubs.EventData{Body: []byte("x")}, nil); err != nil {
				return err
			}
			return p.SendEventDataBatch(ctx, b, nil)
		}
	}
	for _, tc := range []struct {
		name, connStr string
		op            op
		reason        string // in the error
	}{
		{"wrong key: properties", keyConnStr(srv, "app", testKeyWrong), readProps, "bad signature"},
		{"wrong key: receive", keyConnStr(srv, "app", testKeyWrong), receiveOne, "bad signature"},
		{"wrong key: send", keyConnStr(srv, "app", testKeyWrong), send(nil), "bad signature"},
		{"unknown policy", keyConnStr(srv, "nobody", testKeyAll), readProps, "unknown policy 'nobody'"},
		{"expired token: properties", sasConnStr(srv, expired), readProps, "expired"},
		{"expired token: send", sasConnStr(srv, expired), send(nil), "expired"},
		{"listen-only sends to the hub", keyConnStr(srv, "reader", testKeyListen), send(nil), "'Send' claim(s) are required"},
		{"listen-only sends to a partition", keyConnStr(srv, "reader", testKeyListen), send(to.Ptr("1")), "missing right"},
		{"token of another hub: properties", sasConnStr(srv, otherHub), readProps, "wrong audience"},
		{"token of another hub: receive", sasConnStr(srv, otherHub), receiveOne, "wrong audience"},
		{"token of another hub: send", sasConnStr(srv, otherHub), send(nil), "wrong audience"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 10*time.Second)
			began := time.Now()
			err := tc.op(ctx, tc.connStr)
			took := time.Since(began)
			if !unauthorized(err) {
				t.Fatalf("got %v (%T), want the SDK's unauthorized error", err, err)
			}
			if took > 2*time.Second {
				t.Errorf("the refusal took %s, want under 2s", took)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			assertNoSecrets(t, "the error", err.Error(), secrets...)
		})
	}
	assertNoSecrets(t, "the emulator's log", logs.String(), secrets...)
	for _, want := range []string{"put-token refused", "bad signature", "expired", "wrong audience", "link refused"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the emulator's log does not say %q", want)
		}
	}
}

// unauthorized reports the SDK's two forms of a refusal: an
// *azeventhubs.Error with code unauthorized (links), or a management
// call's RPC error with status 401.
func unauthorized(err error) bool {
	var azErr *azeventhubs.Error
	if errors.As(err, &azErr) {
		return azErr.Code == azeventhubs.ErrorCodeUnauthorizedAccess
	}
	var rpc interface{ RPCCode() int }
	return errors.As(err, &rpc) && rpc.RPCCode() == 401
}

// TestSASAttachWithoutToken: a link attached without a token put for it
// is refused at attach time (no source, then a closing detach with
// amqp:unauthorized-access); $cbs needs none.
func TestSASAttachWithoutToken(t *testing.T) {
	srv, _ := startSAS(t)
	raw := dialRaw(t, srv, 0)
	raw.send(&amqp.Attach{Name: "cbs", Handle: 0, Role: amqp.RoleSender,
		Source: &amqp.Source{Address: "me"}, Target: &amqp.Target{Address: "$cbs"}})
	raw.until("attach of $cbs", func(p amqp.Performative) bool {
		a, ok := p.(*amqp.Attach)
		if ok && a.Target == nil {
			t.Fatal("$cbs refused")
		}
		return ok
	})
	for i, addr := range []string{"eh1/ConsumerGroups/$Default/Partitions/0", "$management"} {
		h := uint32(1 + i)
		raw.send(&amqp.Attach{Name: fmt.Sprint("r", h), Handle: h, Role: amqp.RoleReceiver,
			Source: &amqp.Source{Address: addr}, Target: &amqp.Target{Address: "me"}})
		var attached bool
		raw.until("refusal of "+addr, func(p amqp.Performative) bool {
			switch p := p.(type) {
			case *amqp.Attach:
				if p.Source != nil {
					t.Fatalf("attach of %s answered with a source: not refused", addr)
				}
				attached = true
			case *amqp.Detach:
				if !attached || p.Handle != h || !p.Closed || p.Error == nil || p.Error.Condition != "amqp:unauthorized-access" {
					t.Fatalf("detach %+v, want a closing one with amqp:unauthorized-access after a null attach", p)
				}
				t.Logf("%s: %s", addr, p.Error.Description)
				return true
			}
			return false
		})
	}
}

// TestSASDevelopmentMode: without policies any key works, and the
// emulator says so when it starts.
func TestSASDevelopmentMode(t *testing.T) {
	logs := &syncBuffer{}
	srv := start(t, &emulator.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if !strings.Contains(logs.String(), "development mode: any key is accepted") {
		t.Errorf("the log does not say development mode:\n%s", logs)
	}
	c, err := azeventhubs.NewConsumerClientFromConnectionString(keyConnStr(srv, "whoever", testKeyWrong), "eh1", "$Default", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.GetEventHubProperties(testCtx(t, 10*time.Second), nil); err != nil {
		t.Fatalf("any key should do without policies: %v", err)
	}
}

// TestSASConfigErrorsHideKeys: a bad policy in a Config is refused at
// Start, and neither the error nor a printed Config shows its key.
func TestSASConfigErrorsHideKeys(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies []emulator.SASPolicy
		want     string
	}{
		{"empty name", []emulator.SASPolicy{{Key: testKeyAll}}, "name is empty"},
		{"empty key", []emulator.SASPolicy{{Name: "app"}}, "empty key"},
		{"twice", []emulator.SASPolicy{{Name: "app", Key: testKeyAll}, {Name: "app", Key: testKeyListen}}, "twice"},
		{"key as name", []emulator.SASPolicy{{Name: testKeyAll, Key: testKeyListen}}, "NAME= missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &emulator.Config{SASPolicies: tc.policies}
			_, err := emulator.Start(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			assertNoSecrets(t, "the error", err.Error(), testKeyAll, testKeyListen)
			assertNoSecrets(t, "a printed Config", fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg.SASPolicies), testKeyListen)
		})
	}
}

// TestSASJavaScriptSDK has @azure/event-hubs, which signs with upper-case
// URL encoding and encodes the policy name, send, read properties and
// receive with a policy's key, and with a SharedAccessSignature
// connection string. (A refusal is not run here: the JavaScript SDK
// retries UnauthorizedError, for rotated credentials, for minutes.)
func TestSASJavaScriptSDK(t *testing.T) {
	js := needJS(t)
	srv := start(t, &emulator.Config{SASPolicies: []emulator.SASPolicy{{Name: "js-app", Key: testKeyAll}}})
	ctx := testCtx(t, 60*time.Second)
	token, _ := sasToken("sb://"+srv.Addr()+"/eh1", "js-app", testKeyAll, time.Now().Add(time.Hour))
	for i, connStr := range []string{srv.ConnectionString(""), sasConnStr(srv, token)} {
		cmd := js.command(ctx, []string{"EH_CONNECTION_STRING=" + connStr, "EH_HUB=eh1", fmt.Sprint("EH_EXPECT=", 5*(i+1))}, "roundtrip.js")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node roundtrip.js, connection string %d: %v\n%s", i, err, out)
		}
	}
}

// The printable connection strings carry the first policy's name and
// KeyPlaceholder, never a key; in development mode, ConnectionString's.
func TestPrintableConnectionString(t *testing.T) {
	srv, _ := startSAS(t)
	want := "Endpoint=sb://" + srv.Addr() + ";SharedAccessKeyName=app;SharedAccessKey=" + emulator.KeyPlaceholder + ";UseDevelopmentEmulator=true"
	if got := srv.PrintableConnectionString(); got != want {
		t.Errorf("PrintableConnectionString() = %q, want %q", got, want)
	}
	if got := srv.PrintableTLSConnectionString(); got != "" {
		t.Errorf("PrintableTLSConnectionString() without TLS = %q, want \"\"", got)
	}
	dev := start(t, nil)
	if got, want := dev.PrintableConnectionString(), dev.ConnectionString(""); got != want {
		t.Errorf("development mode: PrintableConnectionString() = %q, want %q", got, want)
	}
}
