package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaClient is a franz-go client of the emulator's Kafka endpoint; it
// produces idempotently, kgo's default.
func kafkaClient(t testing.TB, srv *emulator.Server, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(srv.KafkaAddr()),
		kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestKafkaProduceReadOverAMQP: records a Kafka client produces are the
// events the official SDK reads, with the offset as sequence number, the
// value as body, headers as (binary) application properties and the key
// where the service puts it (x-opt-kafka-key, never the partition key).
func TestKafkaProduceReadOverAMQP(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}})
	ctx := testCtx(t, 60*time.Second)
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("orders"))
	const n = 10_000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%37), Value: fmt.Appendf(nil, "event-%d", i),
			Headers: []kgo.RecordHeader{{Key: "index", Value: fmt.Appendf(nil, "%d", i)}}}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	byBody := map[string]*kgo.Record{}
	for _, r := range recs {
		byBody[string(r.Value)] = r
	}
	cc := consumer(t, srv, "orders", azeventhubs.DefaultConsumerGroup)
	got := 0
	for p := range 4 {
		props, err := cc.GetPartitionProperties(ctx, fmt.Sprint(p), nil)
		if err != nil {
			t.Fatalf("partition %d properties: %v", p, err)
		}
		count := int(props.LastEnqueuedSequenceNumber + 1)
		pc, err := cc.NewPartitionClient(fmt.Sprint(p), &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: new(true)}})
		if err != nil {
			t.Fatalf("partition client: %v", err)
		}
		for _, ev := range receive(t, ctx, pc, count) {
			checkKafkaEvent(t, p, ev, byBody[string(ev.Body)])
			got++
		}
		pc.Close(ctx)
	}
	if got != n {
		t.Fatalf("the SDK read %d events, want %d", got, n)
	}
}

func checkKafkaEvent(t *testing.T, partition int, ev *azeventhubs.ReceivedEventData, r *kgo.Record) {
	t.Helper()
	if r == nil {
		t.Fatalf("the SDK read %q, which no Kafka record had", ev.Body)
	}
	if int(r.Partition) != partition || r.Offset != ev.SequenceNumber {
		t.Fatalf("%s: Kafka partition %d offset %d, AMQP partition %d sequence %d", r.Value, r.Partition, r.Offset, partition, ev.SequenceNumber)
	}
	if v, _ := ev.Properties["index"].([]byte); !bytes.Equal(v, r.Headers[0].Value) {
		t.Fatalf("%s: property index = %#v, want %q", r.Value, ev.Properties["index"], r.Headers[0].Value)
	}
	if k, _ := ev.SystemProperties["x-opt-kafka-key"].([]byte); !bytes.Equal(k, r.Key) {
		t.Fatalf("%s: x-opt-kafka-key = %#v, want %q", r.Value, ev.SystemProperties["x-opt-kafka-key"], r.Key)
	}
	if ev.PartitionKey != nil {
		t.Fatalf("%s: partition key %q; the service never makes one of a Kafka key", r.Value, *ev.PartitionKey)
	}
}

// TestKafkaFetchSDKEvents: a Kafka consumer reading partitions directly
// (no group) gets the 10,000 events the SDK sent with partition keys, each
// once, its body as value, the partition key as the x-opt-partition-key
// header and properties as headers.
func TestKafkaFetchSDKEvents(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}})
	ctx := testCtx(t, 60*time.Second)
	const n, keys = 10_000, 40
	p := producer(t, srv, "orders")
	for k := range keys {
		var evs []*azeventhubs.EventData
		for i := k; i < n; i += keys {
			evs = append(evs, &azeventhubs.EventData{Body: fmt.Appendf(nil, "sdk-%d", i),
				Properties: map[string]any{"raw": []byte("b"), "index": int64(i)}})
		}
		sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionKey: new(fmt.Sprintf("pk-%d", k))}, evs...)
	}
	offsets := map[string]map[int32]kgo.Offset{"orders": {}}
	for p := range int32(4) {
		offsets["orders"][p] = kgo.NewOffset().AtStart()
	}
	seen := map[string]bool{}
	for _, r := range kafkaFetch(ctx, t, srv, offsets, n) {
		var i int
		if _, err := fmt.Sscanf(string(r.Value), "sdk-%d", &i); err != nil || seen[string(r.Value)] {
			t.Fatalf("record %q at %d/%d: not an event sent, or read twice", r.Value, r.Partition, r.Offset)
		}
		seen[string(r.Value)] = true
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h["x-opt-partition-key"] != fmt.Sprintf("pk-%d", i%keys) || h["raw"] != "b" || h["index"] == "" {
			t.Fatalf("record %q: headers %v, want x-opt-partition-key=pk-%d, raw=b and index", r.Value, h, i%keys)
		}
	}
	if len(seen) != n {
		t.Fatalf("read %d distinct events, want %d", len(seen), n)
	}
}

// TestKafkaListOffsets: earliest and latest are the partition's bounds in
// sequence numbers.
func TestKafkaListOffsets(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 1}}})
	ctx := testCtx(t, 30*time.Second)
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("orders"))
	for i := range 7 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	for ts, want := range map[int64]int64{-2: 0, -1: 7, time.Now().Add(time.Hour).UnixMilli(): -1} {
		if got := kafkaListOffset(ctx, t, cl, ts); got != want {
			t.Fatalf("ListOffsets at timestamp %d: offset %d, want %d", ts, got, want)
		}
	}
}

func kafkaListOffset(ctx context.Context, t *testing.T, cl *kgo.Client, timestamp int64) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, timestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: error code %d", p.ErrorCode)
	}
	return p.Offset
}
