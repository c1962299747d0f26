package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeaderSize is the bytes of a record batch before its records; the
// CRC covers everything from crcStart on.
const (
	batchHeaderSize = 61
	crcStart        = 21
)

// produce appends each partition's record batches to its log, all of a
// partition's records in one append, and answers with the first offset
// (sequence number) given. With acks=0 the client wants no answer. The
// time a throttled partition held the produce is the answer's throttle
// time, as the service reports it.
func (c *conn) produce(req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	start := time.Now()
	deadline := start.Add(time.Duration(req.TimeoutMillis) * time.Millisecond)
	var held time.Duration
	for _, rt := range req.Topics {
		t := kmsg.NewProduceResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewProduceResponseTopicPartition()
			p.Partition, p.LogStartOffset = rp.Partition, -1
			var wait time.Duration
			p.BaseOffset, p.ErrorCode, wait = c.producePartition(rt.Topic, rp.Partition, rp.Records, deadline)
			held += wait
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	resp.ThrottleMillis = int32(held.Milliseconds())
	if req.Acks == 0 {
		return nil
	}
	return resp
}

// producePartition appends one partition's batches once the connection
// may send to it and no server-busy fault holds it past deadline: the
// first offset given or -1 and the error code, and how long it was held.
func (c *conn) producePartition(topic string, partition int32, raw []byte, deadline time.Time) (int64, int16, time.Duration) {
	if _, code := c.logFor(topic, partition, RightSend); code != 0 {
		return -1, code, 0
	}
	held, err := c.waitThrottled(topic, partition, deadline)
	if err != nil {
		c.log.Warn("kafka produce throttled", "err", err)
		return -1, kerr.PolicyViolation.Code, held
	}
	off, code := c.srv.producers.appendOnce(topic, partition, raw, func() (int64, int16) {
		return c.appendRecords(topic, partition, raw)
	})
	return off, code, held
}

// appendRecords appends the record batches raw to a partition: the first
// offset given, or -1 and the error code.
func (c *conn) appendRecords(topic string, partition int32, raw []byte) (int64, int16) {
	l := c.srv.partitionLog(topic, partition)
	if l == nil {
		return -1, kerr.UnknownTopicOrPartition.Code
	}
	recs, err := parseBatches(raw)
	if err == nil {
		err = checkSizes(recs, c.srv.backend.MaxEventSize(topic))
	}
	if err != nil {
		c.log.Warn("kafka produce refused", "err", err)
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return -1, ke.Code
		}
		return -1, kerr.CorruptMessage.Code
	}
	first, err := l.Append(len(recs), func(i int, m partlog.Meta, dst []byte) ([]byte, error) {
		return storedMessage(dst, &recs[i], m)
	})
	if err != nil {
		c.log.Error("kafka append failed", "err", err)
		return -1, kerr.UnknownServerError.Code
	}
	c.srv.backend.Appended(topic, partition, len(recs), valueBytes(recs))
	return first.SequenceNumber, 0
}

func valueBytes(recs []kmsg.Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Value)
	}
	return n
}

// parseBatches reads the record batches (v2, uncompressed or gzip) of
// one partition, checking their CRCs.
func parseBatches(raw []byte) ([]kmsg.Record, error) {
	var recs []kmsg.Record
	for len(raw) > 0 {
		if len(raw) < batchHeaderSize {
			return nil, fmt.Errorf("kafka: a record batch of %d bytes, shorter than its header: %w", len(raw), kerr.CorruptMessage)
		}
		size := 12 + int64(int32(binary.BigEndian.Uint32(raw[8:12])))
		if size < batchHeaderSize || size > int64(len(raw)) {
			return nil, fmt.Errorf("kafka: a record batch says %d bytes, %d are there: %w", size, len(raw), kerr.CorruptMessage)
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw[:size]); err != nil {
			return nil, fmt.Errorf("kafka: a record batch: %v: %w", err, kerr.CorruptMessage)
		}
		if b.Magic != 2 {
			return nil, fmt.Errorf("kafka: record batch magic %d; only v2 batches are taken: %w", b.Magic, kerr.CorruptMessage)
		}
		if crc32.Checksum(raw[crcStart:size], castagnoli) != uint32(b.CRC) {
			return nil, fmt.Errorf("kafka: a record batch fails its CRC: %w", kerr.CorruptMessage)
		}
		records, err := batchRecords(&b)
		if err != nil {
			return nil, err
		}
		batch, err := parseRecords(records, int(b.NumRecords))
		if err != nil {
			return nil, err
		}
		if b.NumRecords > 0 && b.LastOffsetDelta != b.NumRecords-1 {
			return nil, fmt.Errorf("kafka: a record batch of %d records says its last offset delta is %d: %w", b.NumRecords, b.LastOffsetDelta, kerr.CorruptMessage)
		}
		recs = append(recs, batch...)
		raw = raw[size:]
	}
	return recs, nil
}

// parseRecords reads the n records of a batch's (decompressed) records
// section. n is the client's word: never trusted for more than a bounded
// allocation.
func parseRecords(src []byte, n int) ([]kmsg.Record, error) {
	if n < 0 {
		return nil, fmt.Errorf("kafka: a record batch says it holds %d records: %w", n, kerr.CorruptMessage)
	}
	recs := make([]kmsg.Record, 0, min(n, 4096))
	for i := 0; i < n; i++ {
		rd := kbin.Reader{Src: src}
		length := rd.Varint()
		end := len(src) - len(rd.Src) + int(length)
		if !rd.Ok() || length < 0 || end > len(src) {
			return nil, fmt.Errorf("kafka: record %d of a batch runs past its end: %w", i, kerr.CorruptMessage)
		}
		var r kmsg.Record
		if err := r.ReadFrom(src[:end]); err != nil {
			return nil, fmt.Errorf("kafka: record %d of a batch: %v: %w", i, err, kerr.CorruptMessage)
		}
		recs = append(recs, r)
		src = src[end:]
	}
	if len(src) > 0 {
		// Storing the n records and dropping the rest would lose what
		// the client thinks it sent.
		return nil, fmt.Errorf("kafka: a record batch of %d records has %d bytes after them: %w", n, len(src), kerr.CorruptMessage)
	}
	return recs, nil
}

// checkSizes refuses a partition's records when one is larger than the
// hub's largest event, as the service refuses it: the whole produce to the
// partition fails with MESSAGE_TOO_LARGE and nothing is appended. A
// record's size is Kafka's: its encoding, key, value and headers.
func checkSizes(recs []kmsg.Record, maxEventSize int) error {
	for i := range recs {
		if size := int(recs[i].Length); size > maxEventSize {
			return fmt.Errorf("kafka: record %d is %d bytes, over the hub's largest event of %d bytes: %w", i, size, maxEventSize, kerr.MessageTooLarge)
		}
	}
	return nil
}
