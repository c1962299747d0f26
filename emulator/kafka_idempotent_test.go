package emulator_test

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idempotentBatch is a record batch (v2, CRC set) of values from a
// producer at a sequence number, as an idempotent client sends it.
func idempotentBatch(producer int64, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // what follows the (one-byte, zero) length
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Length: int32(49 + len(recs)), Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: producer, FirstSequence: seq, NumRecords: int32(len(values)), Records: recs}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// TestKafkaIdempotentProduce: a batch an idempotent producer sends again
// (a retry after a lost answer) is answered with the offset it got and not
// appended twice; a batch past a gap in the sequence is refused.
func TestKafkaIdempotentProduce(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 1}}})
	ctx := testCtx(t, 30*time.Second)
	broker := kafkaClient(t, srv).SeedBrokers()[0]
	init, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, broker)
	if err != nil || init.ErrorCode != 0 || init.ProducerID < 0 {
		t.Fatalf("InitProducerId: %+v, %v", init, err)
	}
	produce := func(raw []byte) (int64, error) {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "orders"
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: raw}}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, broker)
		if err != nil {
			t.Fatalf("Produce: %v", err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
	}
	pid := init.ProducerID
	for _, step := range []struct {
		desc   string
		raw    []byte
		offset int64
		err    error
	}{
		{"the first batch", idempotentBatch(pid, 0, "a", "b", "c"), 0, nil},
		{"the same batch again", idempotentBatch(pid, 0, "a", "b", "c"), 0, nil},
		{"the next batch", idempotentBatch(pid, 3, "d", "e"), 3, nil},
		{"the next batch again", idempotentBatch(pid, 3, "d", "e"), 3, nil},
		{"a batch past a gap", idempotentBatch(pid, 9, "x"), -1, kerr.OutOfOrderSequenceNumber},
		{"another producer's batch", idempotentBatch(-1, -1, "f"), 5, nil},
	} {
		if offset, err := produce(step.raw); offset != step.offset || err != step.err {
			t.Fatalf("%s: offset %d, %v; want %d, %v", step.desc, offset, err, step.offset, step.err)
		}
	}
	if end := kafkaListOffset(ctx, t, kafkaClient(t, srv), -1); end != 6 {
		t.Fatalf("the partition ends at %d, want 6: every batch once", end)
	}
}
