package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaReadAll reads n records of partition 0 of hub from the start.
func kafkaReadAll(ctx context.Context, t *testing.T, srv *emulator.Server, hub string, n int) []*kgo.Record {
	t.Helper()
	return kafkaFetch(ctx, t, srv, map[string]map[int32]kgo.Offset{hub: {0: kgo.NewOffset().AtStart()}}, n)
}

// kafkaFetch reads n records from the offsets with a new kgo client.
func kafkaFetch(ctx context.Context, t *testing.T, srv *emulator.Server, offsets map[string]map[int32]kgo.Offset, n int) []*kgo.Record {
	t.Helper()
	cl := kafkaClient(t, srv, kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(200*time.Millisecond))
	return pollRecords(ctx, t, cl, n)
}

// TestKafkaCompression: a gzip producer's records are stored and read
// back uncompressed; snappy, lz4 and zstd are refused with
// UNSUPPORTED_FOR_MESSAGE_FORMAT, as Event Hubs refuses them.
func TestKafkaCompression(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "zipped", PartitionCount: 1}}})
	ctx := testCtx(t, 60*time.Second)
	gz := kafkaClient(t, srv, kgo.DefaultProduceTopic("zipped"), kgo.ProducerBatchCompression(kgo.GzipCompression()))
	const n = 200
	var recs []*kgo.Record
	for i := range n {
		// Values that compress, or kgo sends them uncompressed.
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%d:%s", i, strings.Repeat("gzip ", 40))})
	}
	if err := gz.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("gzip produce: %v", err)
	}
	if got := srv.Stats().EventsAppended; got != n {
		t.Fatalf("events appended = %d after %d produced, want them counted as AMQP sends are", got, n)
	}
	for i, r := range kafkaReadAll(ctx, t, srv, "zipped", n) {
		if string(r.Value) != string(recs[i].Value) || r.Offset != int64(i) {
			t.Fatalf("record %d: %.20q at offset %d, want %.20q", i, r.Value, r.Offset, recs[i].Value)
		}
	}
	for name, codec := range map[string]kgo.CompressionCodec{"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()} {
		cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("zipped"), kgo.ProducerBatchCompression(codec))
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat(name, 100))}).FirstErr()
		if !errors.Is(err, kerr.UnsupportedForMessageFormat) {
			t.Fatalf("%s produce: %v, want UNSUPPORTED_FOR_MESSAGE_FORMAT", name, err)
		}
	}
}

// TestKafkaMaxEventSize: a record larger than the hub's largest event is
// refused with MESSAGE_TOO_LARGE, as the service refuses it; one that fits
// is stored.
func TestKafkaMaxEventSize(t *testing.T) {
	const limit = 4096
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "small", PartitionCount: 1, MaxEventSize: limit}}})
	ctx := testCtx(t, 30*time.Second)
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("small"))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, limit+1)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("a record of %d bytes to a hub of %d: %v, want MESSAGE_TOO_LARGE", limit+1, limit, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, limit-100)}).FirstErr(); err != nil {
		t.Fatalf("a record of %d bytes: %v", limit-100, err)
	}
	if got := kafkaReadAll(ctx, t, srv, "small", 1); len(got) != 1 || len(got[0].Value) != limit-100 || got[0].Offset != 0 {
		t.Fatalf("the hub holds %d records, the first at offset %d; want the one that fit, at 0", len(got), got[0].Offset)
	}
}

// TestKafkaBusyFault: a server-busy fault holds Kafka produces as the
// service holds throttled ones: the produce succeeds once the fault ends,
// with the time held as its throttle time; a fault outlasting the
// request's timeout gets POLICY_VIOLATION.
func TestKafkaBusyFault(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "busy", PartitionCount: 1}}})
	ctx := testCtx(t, 60*time.Second)
	var throttled atomic.Int64
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("busy"), kgo.ProduceRequestTimeout(5*time.Second),
		kgo.WithHooks(throttleHook{&throttled}))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("produce before the fault: %v", err)
	}
	const busy = 1500 * time.Millisecond
	if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "busy", Duration: busy}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("held")}).FirstErr(); err != nil {
		t.Fatalf("produce during a %s server-busy fault: %v", busy, err)
	}
	if took := time.Since(begin); took < busy/2 {
		t.Fatalf("a produce during a %s server-busy fault took %s; want it held until the fault ended", busy, took)
	}
	if got := time.Duration(throttled.Load()) * time.Millisecond; got < busy/2 {
		t.Fatalf("the answer's throttle time: %s; want the time the produce was held", got)
	}
	if hits := srv.Stats().Faults.Hits[emulator.FaultServerBusy]; hits < 1 {
		t.Fatalf("server-busy hits = %d after a Kafka produce it held", hits)
	}

	af, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	short := kafkaClient(t, srv, kgo.DefaultProduceTopic("busy"), kgo.ProduceRequestTimeout(time.Second))
	if err := short.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("a produce throttled past its 1s timeout: %v, want POLICY_VIOLATION", err)
	}
	srv.RemoveFault(af.ID)
	if got := kafkaReadAll(ctx, t, srv, "busy", 2); len(got) != 2 || string(got[1].Value) != "held" {
		t.Fatalf("the hub holds %d records; want before and held", len(got))
	}
}

// throttleHook keeps the largest throttle time a broker answered with.
type throttleHook struct{ max *atomic.Int64 }

func (h throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, throttleInterval time.Duration, _ bool) {
	if ms := throttleInterval.Milliseconds(); ms > h.max.Load() {
		h.max.Store(ms)
	}
}

// TestKafkaDropFault: a drop-connections fault resets the Kafka
// connections too, and kgo reconnects.
func TestKafkaDropFault(t *testing.T) {
	srv, ctx, cl := kafkaProducing(t, "dropped")
	before := srv.Stats().Kafka
	af, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultDropConnections})
	if err != nil {
		t.Fatal(err)
	}
	if af.Hits < before.OpenConnections || af.Hits < 1 {
		t.Fatalf("drop-connections hit %d connections; %d Kafka connections were open", af.Hits, before.OpenConnections)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatalf("produce after the connections were dropped: %v", err)
	}
	if after := srv.Stats().Kafka; after.Connections <= before.Connections {
		t.Fatalf("Kafka connections accepted: %d before the fault, %d after; want kgo to have reconnected", before.Connections, after.Connections)
	}
}

// TestKafkaDelayFault: a delay-frames fault delays every Kafka response.
func TestKafkaDelayFault(t *testing.T) {
	srv, ctx, cl := kafkaProducing(t, "slow")
	const delay = 400 * time.Millisecond
	if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: delay}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatalf("produce under a delay fault: %v", err)
	}
	if took := time.Since(begin); took < delay {
		t.Fatalf("a produce under a %s delay-frames fault took %s", delay, took)
	}
	if hits := srv.Stats().Faults.Hits[emulator.FaultDelayFrames]; hits < 1 {
		t.Fatalf("delay-frames hits = %d after a delayed Kafka response", hits)
	}
}

// kafkaProducing is an emulator with a one-partition hub and a kgo client
// that produced one record to it.
func kafkaProducing(t *testing.T, hub string) (*emulator.Server, context.Context, *kgo.Client) {
	t.Helper()
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: hub, PartitionCount: 1}}})
	ctx := testCtx(t, 60*time.Second)
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic(hub))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("0")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return srv, ctx, cl
}

// TestKafkaRequestLimit: the service closes connections that send
// requests over 1,046,528 bytes; a kgo producer whose requests stay below
// it (BrokerMaxWriteBytes, as one sets it against the service) sends
// megabytes of events to several partitions. (With kgo's default of
// 100 MiB the same produce puts several partitions' batches in requests
// over the limit, and never completes, against the service too.)
func TestKafkaRequestLimit(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "big", PartitionCount: 4}}})
	ctx := testCtx(t, 60*time.Second)
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("big"), kgo.BrokerMaxWriteBytes(1_040_000))
	const n = 4000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "%d", i), Value: make([]byte, 1024)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing %d events of 1 KiB: %v", n, err)
	}
	if got := srv.Stats().EventsAppended; got != n {
		t.Fatalf("events appended = %d, want %d", got, n)
	}
}
