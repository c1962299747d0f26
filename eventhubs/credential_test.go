package eventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/entratest"
	"github.com/ehstream/ehstream/streaming"
)

// entraCA is the emulator's TLS, made once: the SDK's credential path
// always dials TLS.
var entraCA = sync.OnceValues(func() (*emulator.SelfSigned, error) { return emulator.SelfSignedTLS("", nil) })

// entraIssuer is the test's Entra ID: the key the emulator trusts.
var entraIssuer = sync.OnceValues(func() (*entratest.Issuer, error) { return entratest.NewIssuer("ehstream-test") })

// entraHub is an emulator over TLS that takes the test issuer's tokens
// (principal "app" is an owner), its log, and what a Conf needs to reach
// it as namespace "localhost".
type entraHub struct {
	srv  *emulator.Server
	iss  *entratest.Issuer
	log  *syncBuffer
	opts *azeventhubs.ConsumerClientOptions
}

func startEntraHub(t *testing.T, hubs ...emulator.HubConfig) *entraHub {
	t.Helper()
	ss, err := entraCA()
	if err != nil {
		t.Fatal(err)
	}
	iss, err := entraIssuer()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := emulator.ParseJWKS(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := startWith(t, &emulator.Config{Hubs: hubs, TLS: ss.ServerConfig(), JWTKeys: keys,
		JWTRoles: []emulator.JWTRole{{Principal: "app", Rights: emulator.AllRights}},
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return &entraHub{srv: srv, iss: iss, log: logs,
		opts: &azeventhubs.ConsumerClientOptions{CustomEndpoint: srv.TLSAddr(), TLSConfig: ss.ClientConfig("localhost")}}
}

// conf reads hub as cred, through the client options.
func (h *entraHub) conf(hub string, cred azcore.TokenCredential) *eventhubs.Conf {
	return eventhubs.NewConfWithCredential("localhost", hub, cred).SetClientOptions(h.opts).
		SetReceiverTimeout(5 * time.Second).SetOperationTimeout(time.Minute)
}

// TestCredentialConf: a Conf with a TokenCredential reads (DescribeHub,
// CreateRDD) what its NewProducerClient sent, over the SDK's options
// (custom endpoint, TLS config); it names the namespace as a connection
// string to it does, in a stream's identity and in a job.
func TestCredentialConf(t *testing.T) {
	h := startEntraHub(t, emulator.HubConfig{Name: "eh1", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	cred := &entratest.Credential{Issuer: h.iss, Principal: "app", Lifetime: time.Hour}
	conf := h.conf("eh1", cred)
	if err := conf.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := conf.NewProducerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	sendEvents(t, ctx, p, "1", 3)

	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil || len(hp.Partitions) != 2 || hp.Partitions[1].End != 3 {
		t.Fatalf("DescribeHub: %+v %v", hp, err)
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "eh1", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 3}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil || len(evs) != 3 || string(evs[2].Body) != "p1-2" {
		t.Fatalf("Collect: %d events, %v", len(evs), err)
	}
	if len(cred.Minted()) == 0 {
		t.Fatal("the credential was never asked for a token")
	}

	viaConnStr := eventhubs.NewConf(h.srv.TLSConnectionString("eh1"))
	for _, c := range []*eventhubs.Conf{conf, viaConnStr} {
		_, ds := directStream(t, time.Second, nil, "", c)
		if ns := ds.Identity()["namespace"]; ns != "localhost" {
			t.Errorf("%s: identity namespace %q, want localhost", c, ns)
		}
	}
	if fq, _ := conf.FullyQualifiedNamespace(); fq != "localhost" {
		t.Errorf("FullyQualifiedNamespace %q", fq)
	}
}

// sendEvents sends n events to partition, bodies "p<partition>-<i>".
func sendEvents(t *testing.T, ctx context.Context, p *azeventhubs.ProducerClient, partition string, n int) {
	t.Helper()
	sendEventsFrom(t, ctx, p, partition, 0, n)
}

// sendEventsFrom sends n events to partition in one batch, bodies
// "p<partition>-<i>" with i counting on from first.
func sendEventsFrom(t *testing.T, ctx context.Context, p *azeventhubs.ProducerClient, partition string, first, n int) {
	t.Helper()
	b, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := b.AddEventData(&azeventhubs.EventData{Body: []byte(body(partition, first+i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SendEventDataBatch(ctx, b, nil); err != nil {
		t.Fatalf("send to partition %s: %v", partition, err)
	}
}

// TestCredentialRefusedAtOnce: a token for another audience, signed by an
// unknown key or expired fails DescribeHub and CreateRDD with
// CodeUnauthorized and the emulator's reason within 2 s, though the
// OperationTimeout is a minute, and so does a credential that gets no
// token, with its own error; the error shows no token.
func TestCredentialRefusedAtOnce(t *testing.T) {
	h := startEntraHub(t, emulator.HubConfig{Name: "eh1", PartitionCount: 1})
	other, err := entratest.NewIssuer("unknown-key")
	if err != nil {
		t.Fatal(err)
	}
	ranges := []eventhubs.OffsetRange{{Name: "eh1", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}}
	for _, tc := range []struct {
		name string
		cred *entratest.Credential
		want string
	}{
		{"wrong audience", &entratest.Credential{Issuer: h.iss, Principal: "app", Lifetime: time.Hour, Audience: "https://storage.azure.com"},
			"wrong audience: the token is for 'https://storage.azure.com', and Event Hubs takes 'https://eventhubs.azure.net/'"},
		{"unknown key", &entratest.Credential{Issuer: other, Principal: "app", Lifetime: time.Hour},
			"signed by an unknown key: key ID 'unknown-key'"},
		{"expired", &entratest.Credential{Issuer: h.iss, Principal: "app", Expired: true}, "the token expired at"},
		{"no token", &entratest.Credential{Err: errors.New("AzureCLICredential: Azure CLI not found on path")},
			"the credential got no token: AzureCLICredential: Azure CLI not found on path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			assertRefusedAtOnce(t, ctx, h.conf("eh1", tc.cred), ranges, tc.want, "eyJ")
		})
	}
}

// assertRefusedAtOnce: DescribeHub and CreateRDD of conf fail with
// CodeUnauthorized saying want within 2 s, whatever conf's
// OperationTimeout, and their errors show none of secrets.
func assertRefusedAtOnce(t *testing.T, ctx context.Context, conf *eventhubs.Conf, ranges []eventhubs.OffsetRange, want string, secrets ...string) {
	t.Helper()
	for _, op := range []struct {
		what string
		do   func() error
	}{
		{"DescribeHub", func() error { _, err := eventhubs.DescribeHub(ctx, conf); return err }},
		{"CreateRDD", func() error { _, err := eventhubs.CreateRDD(ctx, conf, ranges); return err }},
	} {
		began := time.Now()
		err := op.do()
		took := time.Since(began)
		if !eventhubs.HasCode(err, eventhubs.CodeUnauthorized) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want CodeUnauthorized saying %q", op.what, err, want)
		}
		if took > 2*time.Second {
			t.Errorf("%s failed after %s, want within 2s", op.what, took)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
				t.Errorf("%s: the error shows a secret: %v", op.what, err)
			}
		}
	}
}

// tokenLifetime is as short as the SDK allows a token to be renewed in
// time: it renews a claim 2 minutes after it was put, at the earliest
// (nextClaimRefreshDuration in azeventhubs' internal/namespace.go: the
// expiry less 10 minutes, but never under 2 minutes).
const tokenLifetime = 2*time.Minute + 15*time.Second

// TestCredentialStreamRenewsTokens: a direct stream signed in with a
// TokenCredential of tokens that live 2¼ minutes runs past two renewals
// (some 4½ minutes, since the SDK renews 2 minutes after each claim) while
// events keep coming, and writes every event to SQLite exactly once. The
// emulator detaches a link whose token expired unrenewed: none is, and
// the receivers attached at the start are the ones that read the last
// events, sent after the first renewal's tokens expired.
func TestCredentialStreamRenewsTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for some 4½ minutes: the SDK renews a token 2 minutes after it was put, at the earliest")
	}
	const partitions, perRound = 2, 25
	h := startEntraHub(t, emulator.HubConfig{Name: "eh1", PartitionCount: partitions})
	ctx := testCtx(t, 8*time.Minute)
	cred := &entratest.Credential{Issuer: h.iss, Principal: "app", Lifetime: tokenLifetime}
	conf := h.conf("eh1", cred).SetMaxRatePerPartition(100)
	out := newTxTable(t, ctx, openSQLite(t), "renewed", conf)
	ssc, ds := directStream(t, 500*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true}, "", conf)
	ds.ForeachRDD(out.output)
	began := time.Now()
	done := runSSC(t, ctx, ssc)
	p, err := conf.NewProducerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	send := func(round int) {
		for part := range partitions {
			sendEventsFrom(t, ctx, p, fmt.Sprint(part), round*perRound, perRound)
		}
	}
	send(0)
	waitWhileRunning(t, 30*time.Second, "the first round written", done, func() bool { return out.rows(t) == partitions*perRound })
	links := h.srv.Stats().ConsumerLinks

	// A round every 5 s, past the second renewal's claim (2 × 2 minutes)
	// and the expiry of the first renewal's tokens (2 minutes + the
	// lifetime).
	until := began.Add(2*time.Minute + tokenLifetime + 15*time.Second)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	rounds := 1
	for ; time.Now().Before(until); rounds++ {
		<-tick.C
		send(rounds)
	}
	want := rounds * perRound
	waitWhileRunning(t, time.Minute, fmt.Sprintf("%d events per partition written", want), done, func() bool { return out.rows(t) == partitions*want })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatalf("stream: %v", err)
	}
	out.checkOnce(t, partitions, want)

	if logs := h.log.String(); strings.Contains(logs, "its token expired") {
		t.Errorf("a link's token expired unrenewed:\n%s", grepLines(logs, "its token expired"))
	}
	if n := h.srv.Stats().ConsumerLinks; n != links {
		t.Errorf("%d consumer links attached by the end, %d once the stream read: renewals keep links, none should be attached again", n, links)
	}
	accepted := strings.Count(grepLines(h.log.String(), "put-token accepted"), "\n")
	t.Logf("ran %s, %d events per partition; %d tokens minted, %d put-tokens accepted", time.Since(began).Round(time.Second), want, len(cred.Minted()), accepted)
}

// grepLines is the lines of text holding s.
func grepLines(text, s string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
