package kafka

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFetchWait bounds a fetch's wait whatever the client asks, so that a
// connection comes back to read its next request.
const maxFetchWait = 30 * time.Second

// fetch answers with the records from each partition's fetch offset,
// waiting up to the request's max wait for min bytes to be there. Fetch
// sessions are not kept: the answer's session id 0 tells the client to
// send full requests.
func (c *conn) fetch(req *kmsg.FetchRequest) kmsg.Response {
	deadline := time.Now().Add(min(time.Duration(req.MaxWaitMillis)*time.Millisecond, c.srv.fetchWait))
	for {
		f := c.fetchOnce(req)
		if f.size >= int(req.MinBytes) || !time.Now().Before(deadline) || !c.waitAny(f.changed, deadline) {
			for _, n := range f.counts {
				c.srv.backend.Fetched(n.topic, n.partition, n.events, n.bodyBytes)
			}
			return f.resp
		}
	}
}

// fetched is one answer to a fetch: the response, the bytes of records in
// it, the logs' change channels taken before reading them, and the events
// it holds by partition.
type fetched struct {
	resp    kmsg.Response
	size    int
	changed []<-chan struct{}
	counts  []fetchCount
}

type fetchCount struct {
	topic             string
	partition         int32
	events, bodyBytes int
}

// waitAny waits until one of the logs has new events (true), or the
// deadline passes or the server closes (false).
func (c *conn) waitAny(changed []<-chan struct{}, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	woke := make(chan struct{}, 1)
	for _, ch := range changed {
		go func() {
			select {
			case <-ch:
				select {
				case woke <- struct{}{}:
				default:
				}
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-woke:
		return true
	case <-ctx.Done():
	case <-c.srv.stop:
	}
	return false
}

// fetchOnce builds one answer.
func (c *conn) fetchOnce(req *kmsg.FetchRequest) fetched {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	f := fetched{resp: resp}
	budget := int(req.MaxBytes)
	for _, rt := range req.Topics {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rp.Partition
			// Empty, never null, as Kafka brokers answer: librdkafka
			// takes a null record set for a protocol error.
			p.RecordBatches = []byte{}
			l, code := c.logFor(rt.Topic, rp.Partition, RightListen)
			if l == nil {
				p.ErrorCode = code
				t.Partitions = append(t.Partitions, p)
				continue
			}
			f.changed = append(f.changed, l.Changed())
			if n := c.fetchPartition(&p, l, rp.FetchOffset, min(int(rp.PartitionMaxBytes), max(budget-f.size, 1))); n.events > 0 {
				n.topic, n.partition = rt.Topic, rp.Partition
				f.counts = append(f.counts, n)
			}
			f.size += len(p.RecordBatches)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return f
}

// fetchPartition fills p with the records of l from an offset, and
// returns how many events it holds.
func (c *conn) fetchPartition(p *kmsg.FetchResponseTopicPartition, l *partlog.Log, from int64, maxBytes int) (n fetchCount) {
	begin, next := l.Bounds()
	p.HighWatermark, p.LastStableOffset, p.LogStartOffset = next, next, begin
	if from < begin || from > next {
		p.ErrorCode = kerr.OffsetOutOfRange.Code
		return n
	}
	if from == next {
		return n
	}
	recs, err := l.Read(nil, from, 1<<16, maxBytes)
	if err != nil {
		c.log.Warn("kafka fetch read failed", "err", err)
		p.ErrorCode = kerr.OffsetOutOfRange.Code
		return n
	}
	batch, bodyBytes, err := recordBatch(recs)
	if err != nil {
		c.log.Error("kafka fetch cannot encode stored events", "err", err)
		p.ErrorCode = kerr.UnknownServerError.Code
		return n
	}
	p.RecordBatches = batch
	return fetchCount{events: len(recs), bodyBytes: bodyBytes}
}

// recordBatch encodes stored events as one uncompressed record batch v2,
// and counts the bytes of their bodies.
func recordBatch(recs []partlog.Record) ([]byte, int, error) {
	first, last := recs[0], recs[len(recs)-1]
	var body []byte
	bodyBytes := 0
	for _, r := range recs {
		key, value, headers, err := kafkaRecord(r.Payload)
		if err != nil {
			return nil, 0, err
		}
		bodyBytes += len(value)
		kr := kmsg.Record{
			TimestampDelta64: r.EnqueuedTime.UnixMilli() - first.EnqueuedTime.UnixMilli(),
			OffsetDelta:      int32(r.SequenceNumber - first.SequenceNumber),
			Key:              key, Value: value, Headers: headers,
		}
		// The length prefix is a varint of what follows it: encode with a
		// zero length (one byte) to measure, then for real.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		body = kr.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		FirstOffset: first.SequenceNumber, Magic: 2,
		LastOffsetDelta: int32(last.SequenceNumber - first.SequenceNumber),
		FirstTimestamp:  first.EnqueuedTime.UnixMilli(), MaxTimestamp: last.EnqueuedTime.UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: body,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[crcStart:], castagnoli))
	return out, bodyBytes, nil
}

// listOffsets resolves earliest (-2), latest (-1) and a timestamp to an
// offset: the first event enqueued at or after it, or -1 when there is none.
func (c *conn) listOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewListOffsetsResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.Partition, p.Timestamp, p.Offset = rp.Partition, -1, -1
			if l, code := c.logFor(rt.Topic, rp.Partition, RightListen); l == nil {
				p.ErrorCode = code
			} else {
				p.Offset = offsetFor(l, rp.Timestamp)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func offsetFor(l *partlog.Log, timestamp int64) int64 {
	begin, next := l.Bounds()
	switch {
	case timestamp == -2:
		return begin
	case timestamp < 0:
		return next
	}
	if seq := l.SeqAtTime(time.UnixMilli(timestamp - 1)); seq < next {
		return seq
	}
	return -1
}
