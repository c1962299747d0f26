package emulator_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// The keys of the policies the Kafka SASL tests configure.
const (
	ownerKey    = "b3duZXIta2V5LW9mLXRoZS10ZXN0cw=="
	listenerKey = "bGlzdGVuZXIta2V5LW9mLXRoZS10ZXN0cw=="
	senderKey   = "c2VuZGVyLWtleS1vZi10aGUtdGVzdHM="
)

// startKafkaAuth runs an emulator serving Kafka over TLS with three
// policies: owner (all rights), listener (Listen), sender (Send).
func startKafkaAuth(t *testing.T) (*emulator.Server, *tls.Config) {
	t.Helper()
	srv, ss := startTLS(t, &emulator.Config{
		KafkaTLSListen: "127.0.0.1:0",
		Hubs:           []emulator.HubConfig{{Name: "orders", PartitionCount: 2}, {Name: "other", PartitionCount: 1}},
		SASPolicies: []emulator.SASPolicy{{Name: "owner", Key: ownerKey},
			{Name: "listener", Key: listenerKey, Rights: emulator.RightListen},
			{Name: "sender", Key: senderKey, Rights: emulator.RightSend}},
	})
	return srv, ss.ClientConfig("localhost")
}

// kafkaSASLClient is a kgo client over TLS authenticating with SASL PLAIN
// as Event Hubs wants: $ConnectionString and a connection string.
func kafkaSASLClient(t *testing.T, srv *emulator.Server, tc *tls.Config, connStr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return kafkaClient(t, srv, append([]kgo.Opt{kgo.SeedBrokers(srv.KafkaTLSAddr()), kgo.DialTLSConfig(tc),
		kgo.SASL(plain.Auth{User: "$ConnectionString", Pass: connStr}.AsMechanism())}, opts...)...)
}

func kafkaConnStr(srv *emulator.Server, policy, key, entity string) string {
	cs := fmt.Sprintf("Endpoint=sb://localhost:%s/;SharedAccessKeyName=%s;SharedAccessKey=%s", portOf(srv.KafkaTLSAddr()), policy, key)
	if entity != "" {
		cs += ";EntityPath=" + entity
	}
	return cs
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestKafkaSASLOverTLS: with policies, kgo over TLS with SASL PLAIN
// produces and consumes with a policy that grants both; a wrong key is
// refused with SASL_AUTHENTICATION_FAILED, naming no key; a Listen-only
// policy cannot produce and a Send-only one cannot fetch
// (TOPIC_AUTHORIZATION_FAILED, as the service answers) nor use a consumer
// group (GROUP_AUTHORIZATION_FAILED).
func TestKafkaSASLOverTLS(t *testing.T) {
	srv, tc := startKafkaAuth(t)
	ctx := testCtx(t, 60*time.Second)
	owner := kafkaSASLClient(t, srv, tc, kafkaConnStr(srv, "owner", ownerKey, ""), kgo.DefaultProduceTopic("orders"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	const n = 20
	for i := range n {
		if err := owner.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "e-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("owner produce: %v", err)
		}
	}
	if got := pollRecords(ctx, t, owner, n); len(got) != n {
		t.Fatalf("owner consumed %d records, want %d", len(got), n)
	}

	t.Run("wrong key", func(t *testing.T) {
		const wrong = "d3Jvbmcta2V5LW5vdC10aGUtb3duZXJz"
		// A producer's records would wait for metadata, retried until
		// their timeout; one request shows the refusal at once.
		cl := kafkaSASLClient(t, srv, tc, kafkaConnStr(srv, "owner", wrong, ""))
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("a request with a wrong key: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), ownerKey) {
			t.Fatalf("the refusal shows a key: %v", err)
		}
	})
	t.Run("listen only cannot produce", func(t *testing.T) {
		cl := kafkaSASLClient(t, srv, tc, kafkaConnStr(srv, "listener", listenerKey, ""), kgo.DefaultProduceTopic("orders"))
		// An idempotent producer is refused its producer id, as a Kafka
		// broker refuses one without the right to write anywhere.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("Listen-only idempotent produce: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		plainProducer := kafkaSASLClient(t, srv, tc, kafkaConnStr(srv, "listener", listenerKey, ""), kgo.DefaultProduceTopic("orders"), kgo.DisableIdempotentWrite())
		if err := plainProducer.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("Listen-only produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if code := kafkaFetchCode(ctx, t, cl, "orders"); code != 0 {
			t.Fatalf("Listen-only fetch: error %v, want none", kerr.ErrorForCode(code))
		}
	})
	t.Run("send only cannot fetch", func(t *testing.T) {
		cl := kafkaSASLClient(t, srv, tc, kafkaConnStr(srv, "sender", senderKey, ""), kgo.DefaultProduceTopic("orders"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("Send-only produce: %v", err)
		}
		if code := kafkaFetchCode(ctx, t, cl, "orders"); code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("Send-only fetch: error %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
		}
		// Consumer groups need Listen too.
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups = []string{"billing"}
		resp, err := dg.RequestWith(ctx, cl)
		if err == nil && len(resp.Groups) == 1 {
			err = kerr.ErrorForCode(resp.Groups[0].ErrorCode)
		}
		if !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("Send-only DescribeGroups: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("EntityPath limits to its hub", func(t *testing.T) {
		cl := kafkaSASLClient(t, srv, tc, kafkaConnStr(srv, "owner", ownerKey, "orders"), kgo.DefaultProduceTopic("other"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce outside EntityPath: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil || len(meta.Topics) != 1 || *meta.Topics[0].Topic != "orders" {
			t.Fatalf("metadata of all topics: %v, err %v; want orders alone", meta, err)
		}
	})
}

// TestKafkaSASLSignatureExpiry: a connection string's shared access
// signature gives the session its lifetime. kgo authenticates again before
// it ends (KIP-368), with a fresh signature, and goes on producing; with
// the same, expired one it is refused, saying it expired.
func TestKafkaSASLSignatureExpiry(t *testing.T) {
	srv, tc := startKafkaAuth(t)
	ctx := testCtx(t, 60*time.Second)
	const lifetime = 2 * time.Second
	var signed atomic.Int32
	fresh := plain.Plain(func(context.Context) (plain.Auth, error) {
		signed.Add(1)
		tok, _ := sasToken("sb://localhost/orders", "owner", ownerKey, time.Now().Add(lifetime))
		return plain.Auth{User: "$ConnectionString", Pass: sasConnStr(srv, tok)}, nil
	})
	cl := kafkaClient(t, srv, kgo.SeedBrokers(srv.KafkaTLSAddr()), kgo.DialTLSConfig(tc), kgo.SASL(fresh), kgo.DefaultProduceTopic("orders"))
	for past := time.Now().Add(2 * lifetime); time.Now().Before(past) || signed.Load() < 2; {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce with %d signatures: %v", signed.Load(), err)
		}
		time.Sleep(50 * time.Millisecond) // pacing the produces, not synchronising
	}

	tok, _ := sasToken("sb://localhost/orders", "owner", ownerKey, time.Now().Add(lifetime))
	stale := kafkaSASLClient(t, srv, tc, sasConnStr(srv, tok))
	var err error
	for err == nil {
		err = stale.Ping(ctx)
		time.Sleep(50 * time.Millisecond) // pacing, not synchronising: ctx bounds it
	}
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("requests past the signature's expiry: %v, want SASL_AUTHENTICATION_FAILED saying it expired", err)
	}
}

// pollRecords polls until n records came or ctx ends, failing on fetch
// errors.
func pollRecords(ctx context.Context, t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("fetched %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

// kafkaFetchCode fetches partition 0 of topic from offset 0 and returns
// the partition's error code.
func kafkaFetchCode(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestKafkaDevModeAnyPassword: without policies, SASL PLAIN takes any
// password, and clients without SASL are served too.
func TestKafkaDevModeAnyPassword(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 1}}})
	ctx := testCtx(t, 30*time.Second)
	for _, opt := range []kgo.Opt{kgo.SASL(plain.Auth{User: "anyone", Pass: "not a connection string"}.AsMechanism()), kgo.ClientID("no-sasl")} {
		cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("orders"), opt)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce in development mode: %v", err)
		}
	}
}

// TestKafkaRequestBeforeSASL: with policies, a request other than
// ApiVersions or the SASL handshake before authenticating closes the
// connection, as a Kafka broker does, and so does a frame larger than
// 512 KiB; ApiVersions is answered.
func TestKafkaRequestBeforeSASL(t *testing.T) {
	srv, tc := startKafkaAuth(t)
	nc, err := tls.Dial("tcp", srv.KafkaTLSAddr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := kafkaRoundTrip(nc, kmsg.NewPtrApiVersionsRequest()); err != nil {
		t.Fatalf("ApiVersions before SASL: %v", err)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(1)
	if _, err := kafkaRoundTrip(nc, meta); !errors.Is(err, io.EOF) {
		t.Fatalf("Metadata before SASL: %v, want the connection closed", err)
	}

	// A frame said to be larger than Kafka's 512 KiB before SASL closes
	// the connection before it is read.
	big, err := tls.Dial("tcp", srv.KafkaTLSAddr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	big.SetDeadline(time.Now().Add(20 * time.Second))
	big.Write(kbin.AppendInt32(nil, 1<<20))
	if _, err := big.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a 1 MiB frame before SASL: %v, want the connection closed", err)
	}
}

// TestKafkaSASLHandshakeV0: after a v0 handshake the PLAIN token comes as
// a bare frame, answered by an empty one when good; the connection then
// serves requests. A bad token closes it.
func TestKafkaSASLHandshakeV0(t *testing.T) {
	srv, tc := startKafkaAuth(t)
	for _, tt := range []struct {
		key  string
		good bool
	}{{ownerKey, true}, {senderKey, false}} {
		nc, err := tls.Dial("tcp", srv.KafkaTLSAddr(), tc)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(0)
		hs.Mechanism = "PLAIN"
		if _, err := kafkaRoundTrip(nc, hs); err != nil {
			t.Fatalf("handshake v0: %v", err)
		}
		token := "\x00$ConnectionString\x00" + kafkaConnStr(srv, "owner", tt.key, "")
		answer, err := kafkaFrame(nc, []byte(token))
		switch {
		case tt.good && (err != nil || len(answer) != 0):
			t.Fatalf("good bare token: answer %q, err %v; want an empty frame", answer, err)
		case !tt.good && !errors.Is(err, io.EOF):
			t.Fatalf("bad bare token: answer %q, err %v; want the connection closed", answer, err)
		}
		if tt.good {
			meta := kmsg.NewPtrMetadataRequest()
			meta.SetVersion(1)
			if _, err := kafkaRoundTrip(nc, meta); err != nil {
				t.Fatalf("Metadata after a v0 SASL: %v", err)
			}
		}
		nc.Close()
	}
}

// kafkaRoundTrip sends one request (correlation id 1) and returns the
// response body after its correlation id.
func kafkaRoundTrip(nc net.Conn, req kmsg.Request) ([]byte, error) {
	b := kbin.AppendInt16(nil, req.Key())
	b = kbin.AppendInt16(b, req.GetVersion())
	b = kbin.AppendInt32(b, 1)
	b = kbin.AppendNullableString(b, kmsg.StringPtr("test"))
	if req.IsFlexible() {
		b = append(b, 0)
	}
	resp, err := kafkaFrame(nc, req.AppendTo(b))
	if err == nil && len(resp) < 4 {
		return nil, fmt.Errorf("a response of %d bytes", len(resp))
	}
	if err != nil {
		return nil, err
	}
	return resp[4:], nil
}

// kafkaFrame writes one size-prefixed frame and reads the one answering.
func kafkaFrame(nc net.Conn, payload []byte) ([]byte, error) {
	if _, err := nc.Write(append(kbin.AppendInt32(nil, int32(len(payload))), payload...)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return nil, err
	}
	out := make([]byte, (&kbin.Reader{Src: size[:]}).Int32())
	_, err := io.ReadFull(nc, out)
	return out, err
}

// A Kafka connection reads and writes whole hubs (topics): a signature
// for less than a hub (one partition, one publisher) is refused, naming
// its scope, instead of giving the connection the whole hub.
func TestKafkaTokenBelowHubRefused(t *testing.T) {
	srv, tc := startKafkaAuth(t)
	ctx := testCtx(t, 30*time.Second)
	for _, scope := range []string{"orders/partitions/0", "orders/publishers/device1"} {
		tok, _ := sasToken("sb://localhost/"+scope, "owner", ownerKey, time.Now().Add(time.Hour))
		cl := kafkaSASLClient(t, srv, tc, sasConnStr(srv, tok), kgo.DefaultProduceTopic("orders"))
		if err := cl.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), scope) {
			t.Errorf("a signature for %s: %v, want SASL_AUTHENTICATION_FAILED naming the scope", scope, err)
		}
		// A producer retries until its record's timeout: nothing is stored.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err == nil {
			t.Errorf("a signature for %s: a record was produced", scope)
		}
		cancel()
	}
	if n := srv.Stats().EventsAppended; n != 0 {
		t.Errorf("the hub stored %d events, want none", n)
	}
}
