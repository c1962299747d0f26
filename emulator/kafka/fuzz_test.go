package kafka

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequest writes arbitrary bytes to a connection as request frames and
// checks that the server never panics, answers every frame whose header
// parses with its correlation id (in an answer that decodes), closes the
// connection on a frame it cannot read, and serves the next client.
func FuzzRequest(f *testing.F) {
	s := startTestServer(f)
	for _, seed := range seedFrames() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAnswered(t, s, in)
		checkServed(t, s)
	})
}

// checkAnswered writes in frame by frame, reading each answer before the
// next frame goes out.
func checkAnswered(t *testing.T, s *Server, in []byte) {
	nc := dial(t, s)
	defer nc.Close()
	for len(in) >= 4 {
		size := int32(binary.BigEndian.Uint32(in))
		if size < 8 || size > maxRequestSize {
			nc.Write(in)
			expectClosed(t, nc, "after a frame of size %d", size)
			return
		}
		if int64(size) > int64(len(in)-4) {
			break
		}
		frame := in[4 : 4+size]
		if _, err := nc.Write(in[:4+size]); err != nil {
			t.Fatalf("write a frame: %v", err)
		}
		in = in[4+size:]
		req, err := parseHeader(frame)
		if err != nil {
			expectClosed(t, nc, "after a header that does not parse (%v)", err)
			return
		}
		checkAnswer(t, nc, req)
	}
	// What is left is a frame cut short: the server waits for the rest
	// until the client is gone.
	nc.Write(in)
	nc.CloseWrite()
	expectClosed(t, nc, "after a frame cut short (%d bytes)", len(in))
}

// checkAnswer reads the answer to req, if it has one: its correlation id,
// and a body that decodes as the answer the request asked for, or as the
// error code of a request the endpoint does not serve.
func checkAnswer(t *testing.T, nc net.Conn, req *request) {
	kr, answered := parsedRequest(req)
	if !answered {
		return
	}
	flexible := kr != nil && kr.IsFlexible() && kmsg.Key(req.key) != kmsg.ApiVersions
	corr, body, err := readResponse(nc, flexible)
	if err != nil {
		t.Fatalf("key %d v%d: no answer: %v", req.key, req.version, err)
	}
	if corr != req.correlation {
		t.Fatalf("key %d v%d: answer with correlation id %d, want %d", req.key, req.version, corr, req.correlation)
	}
	switch {
	case kr != nil:
		resp := kr.ResponseKind()
		resp.SetVersion(req.version)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("%s v%d: the answer does not decode: %v", kmsg.NameForKey(req.key), req.version, err)
		}
	case kmsg.Key(req.key) == kmsg.ApiVersions:
		resp := kmsg.NewPtrApiVersionsResponse()
		if err := resp.ReadFrom(body); err != nil || !isCode(body, kerr.UnsupportedVersion, kerr.InvalidRequest) || len(resp.ApiKeys) == 0 {
			t.Fatalf("ApiVersions v%d: answer %+v (%v), want v0 with the versions and UNSUPPORTED_VERSION or INVALID_REQUEST", req.version, resp, err)
		}
	default:
		if len(body) != 2 || !isCode(body, kerr.UnsupportedVersion, kerr.InvalidRequest) {
			t.Fatalf("key %d v%d: answer % x, want just UNSUPPORTED_VERSION or INVALID_REQUEST", req.key, req.version, body)
		}
	}
}

// parsedRequest is req's body parsed, when the endpoint serves its key
// and version and the body parses; and whether req gets an answer at all
// (a produce with acks=0 gets none).
func parsedRequest(req *request) (kmsg.Request, bool) {
	vr, ok := served[kmsg.Key(req.key)]
	if !ok || req.version < vr.min || req.version > vr.max {
		return nil, true
	}
	kr := kmsg.RequestForKey(req.key)
	kr.SetVersion(req.version)
	if kr.ReadFrom(req.body) != nil {
		return nil, true
	}
	if p, ok := kr.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return kr, false
	}
	return kr, true
}

func isCode(body []byte, errs ...*kerr.Error) bool {
	code := int16(binary.BigEndian.Uint16(body))
	for _, e := range errs {
		if e.Code == code {
			return true
		}
	}
	return false
}

// expectClosed checks that the server closes nc without another word.
func expectClosed(t *testing.T, nc net.Conn, why string, args ...any) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	n, err := nc.Read(b[:])
	if n > 0 || err == nil {
		t.Fatalf("the server answered "+why+"; want the connection closed", args...)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the connection was not closed "+why+": %v", append(args, err)...)
	}
}

// seedFrames are valid requests of every served key at their lowest and
// highest versions, and the damaged ones the endpoint must survive.
func seedFrames() [][]byte {
	var out [][]byte
	add := func(r kmsg.Request, versions ...int16) {
		for _, v := range versions {
			r.SetVersion(v)
			out = append(out, formatter.AppendRequest(nil, r, int32(len(out)+1)))
		}
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "seed", "1"
	add(av, 0, 3, 4)
	md := kmsg.NewPtrMetadataRequest()
	add(md, 1, 9)
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(testTopic)}, {Topic: kmsg.StringPtr("none")}}
	add(md, 1, 9, 12)
	for _, batch := range [][]byte{seedBatch("a", "b"), badCRC(seedBatch("c")), seedBatch("d")[:40], compressed(seedBatch("e"))} {
		add(produceRequest(batch, -1), 3, 9, 2)
	}
	add(produceRequest(seedBatch("f"), 0), 3)
	add(fetchRequest(0, 0), 4, 12)
	add(fetchRequest(1, 5), 4, 12)
	add(listOffsetsRequest(-2, -1, 0, time.Now().Add(time.Hour).UnixMilli()), 1, 7)
	add(kmsg.NewPtrJoinGroupRequest(), 0, 9)
	out = append(out, joined(out[0], out[4]), joined(out[6], out[len(out)-1]))
	return append(out, damagedFrames(out[0])...)
}

// damagedFrames are frames with bad sizes or headers: sizes below the
// header, negative, above the limit; a frame cut short; an unknown key.
func damagedFrames(valid []byte) [][]byte {
	size := func(n int32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(n)), rest...)
	}
	unknown := append([]byte(nil), valid...)
	binary.BigEndian.PutUint16(unknown[4:], 999)
	return [][]byte{
		size(0), size(7, 0, 0, 0, 0, 0, 0, 0), size(-1), size(maxRequestSize + 1), size(maxRequestSize),
		size(12, 0, 18, 0, 3, 0, 0, 0, 1, 0, 40), valid[:len(valid)-2], unknown,
	}
}

func joined(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// seedBatch is an uncompressed record batch v2 of the values, its CRC
// right.
func seedBatch(values ...string) []byte {
	return batchOf(codecNone, len(values), encodeRecords(values...))
}

func encodeRecords(values ...string) []byte {
	var body []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte(v), Headers: []kmsg.Header{{Key: "h", Value: []byte("x")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		body = r.AppendTo(body)
	}
	return body
}

// batchOf is a record batch v2 of n records, their section as given (and
// compressed with codec, which the attributes name).
func batchOf(codec int16, n int, records []byte) []byte {
	b := kmsg.RecordBatch{Magic: 2, Attributes: codec, LastOffsetDelta: int32(n - 1), ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: records}
	return fixBatch(b.AppendTo(nil))
}

// fixBatch sets a batch's length and CRC from its bytes.
func fixBatch(b []byte) []byte {
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[crcStart:], castagnoli))
	return b
}

func badCRC(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }

// compressed marks a batch gzip-compressed without compressing it: a
// batch that fails to decompress.
func compressed(b []byte) []byte {
	b[22] |= 1
	return fixBatch(b)
}

func produceRequest(batch []byte, acks int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 1000
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition, p.Records = 1, batch
	t := kmsg.NewProduceRequestTopic()
	t.Topic, t.Partitions = testTopic, []kmsg.ProduceRequestTopicPartition{p}
	req.Topics = append(req.Topics, t)
	return req
}

func fetchRequest(partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 10, 1, 1<<20
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.FetchOffset, p.PartitionMaxBytes = partition, offset, 1<<20
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.Partitions = testTopic, []kmsg.FetchRequestTopicPartition{p}
	req.Topics = append(req.Topics, t)
	return req
}

func listOffsetsRequest(timestamps ...int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = testTopic
	for i, ts := range timestamps {
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition, p.Timestamp = int32(i%3), ts
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	return req
}
