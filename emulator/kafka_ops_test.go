package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaReadAll reads n records of partition 0 of hub from the start.
func kafkaReadAll(ctx context.Context, t *testing.T, srv *emulator.Server, hub string, n int) []*kgo.Record {
	t.Helper()
	offsets := map[string]map[int32]kgo.Offset{hub: {0: kgo.NewOffset().AtStart()}}
	cl := kafkaClient(t, srv, kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(200*time.Millisecond))
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

// TestKafkaCompression: a gzip producer's records are stored and read
// back uncompressed; snappy, lz4 and zstd are refused with
// UNSUPPORTED_COMPRESSION_TYPE, as Event Hubs refuses them.
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
		if !errors.Is(err, kerr.UnsupportedCompressionType) {
			t.Fatalf("%s produce: %v, want UNSUPPORTED_COMPRESSION_TYPE", name, err)
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
