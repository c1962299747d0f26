package kafka

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceError sends one batch to partition 1 of the test topic and
// returns the partition's error code.
func produceError(t *testing.T, s *Server, batch []byte) int16 {
	t.Helper()
	req := produceRequest(batch, -1)
	req.SetVersion(9)
	resp := roundTrip(t, dial(t, s), req, 7).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func gzipped(t testing.TB, src []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(src); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// TestGzipBombRefused: a gzip batch small on the wire that decompresses
// past the limit is refused with MESSAGE_TOO_LARGE, having taken no more
// memory than about the limit.
func TestGzipBombRefused(t *testing.T) {
	s := startTestServer(t)
	// Concatenated gzip members are one stream to a reader: 512 members
	// of 1 MiB of zeros, 512 MiB in all.
	bomb := bytes.Repeat(gzipped(t, make([]byte, 1<<20)), 512)
	if len(bomb) > maxRequestSize-200 {
		t.Fatalf("the bomb is %d bytes compressed; it must fit a request", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code := produceError(t, s, batchOf(codecGzip, 1, bomb))
	runtime.ReadMemStats(&after)
	if code != kerr.MessageTooLarge.Code {
		t.Fatalf("a batch decompressing to 512 MiB: error %d, want MESSAGE_TOO_LARGE", code)
	}
	// The buffer grows in steps up to the limit: their sum is a few
	// times the limit, far below what the batch decompresses to.
	if got := after.TotalAlloc - before.TotalAlloc; got > 6*maxDecompressedBatch {
		t.Fatalf("refusing it allocated %d bytes; want at most %d", got, 6*maxDecompressedBatch)
	}
}

// TestGzipBatchAppended: a gzip batch's records are appended as the
// uncompressed ones would be; a section that is not gzip is corrupt.
func TestGzipBatchAppended(t *testing.T) {
	s := startTestServer(t)
	l := s.partitionLog(testTopic, 1)
	if code := produceError(t, s, batchOf(codecGzip, 2, gzipped(t, encodeRecords("a", "b")))); code != 0 {
		t.Fatalf("a gzip batch: error %d", code)
	}
	if _, next := l.Bounds(); next != 2 {
		t.Fatalf("after a gzip batch of 2 records the log has %d", next)
	}
	if code := produceError(t, s, batchOf(codecGzip, 1, encodeRecords("c"))); code != kerr.CorruptMessage.Code {
		t.Fatalf("a batch marked gzip, not compressed: error %d, want CORRUPT_MESSAGE", code)
	}
}

// TestRecordOverMaxEventSize: a record larger than the hub's largest event
// fails the partition's produce with MESSAGE_TOO_LARGE; nothing of it is
// appended.
func TestRecordOverMaxEventSize(t *testing.T) {
	s := startTestServer(t)
	l := s.partitionLog(testTopic, 1)
	batch := seedBatch("small", strings.Repeat("x", testMaxEventSize))
	if code := produceError(t, s, batch); code != kerr.MessageTooLarge.Code {
		t.Fatalf("a record over %d bytes: error %d, want MESSAGE_TOO_LARGE", testMaxEventSize, code)
	}
	if _, next := l.Bounds(); next != 0 {
		t.Fatalf("a refused batch left %d events", next)
	}
	if code := produceError(t, s, seedBatch(strings.Repeat("x", testMaxEventSize-100))); code != 0 {
		t.Fatalf("a record under the limit: error %d", code)
	}
}

// TestNegativeRecordCount: a batch whose CRC is right but whose record
// count is negative is CORRUPT_MESSAGE, and the server lives on (it
// panicked: FuzzBatch found it).
func TestNegativeRecordCount(t *testing.T) {
	s := startTestServer(t)
	batch := seedBatch("a")
	binary.BigEndian.PutUint32(batch[57:61], 0xffffff00) // NumRecords, the header's last field
	if code := produceError(t, s, fixBatch(batch)); code != kerr.CorruptMessage.Code {
		t.Fatalf("a batch of -256 records: error %d, want CORRUPT_MESSAGE", code)
	}
	checkServed(t, s)
}

// TestRecordCountMustMatch: a batch that holds more records than it says,
// or whose last offset delta disagrees with its count, is CORRUPT_MESSAGE:
// storing the counted records and dropping the others would lose what the
// client sent.
func TestRecordCountMustMatch(t *testing.T) {
	s := startTestServer(t)
	extra := batchOf(codecNone, 1, encodeRecords("a", "b"))
	if code := produceError(t, s, extra); code != kerr.CorruptMessage.Code {
		t.Fatalf("a batch of 2 records that says 1: error %d, want CORRUPT_MESSAGE", code)
	}
	delta := seedBatch("a", "b")
	binary.BigEndian.PutUint32(delta[23:27], 5) // LastOffsetDelta
	if code := produceError(t, s, fixBatch(delta)); code != kerr.CorruptMessage.Code {
		t.Fatalf("a batch of 2 records whose last offset delta is 5: error %d, want CORRUPT_MESSAGE", code)
	}
	if code := produceError(t, s, seedBatch("a", "b")); code != 0 {
		t.Fatalf("a good batch after them: error %d", code)
	}
	checkServed(t, s)
}
