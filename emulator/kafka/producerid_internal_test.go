package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batch is the raw form of one record batch header of n records; the
// records themselves do not matter to the sequence checks.
func batch(producer int64, epoch int16, firstSeq, n int32) []byte {
	b := kmsg.RecordBatch{Length: 49, Magic: 2, ProducerID: producer, ProducerEpoch: epoch, FirstSequence: firstSeq, NumRecords: n}
	return b.AppendTo(nil)
}

// TestIdempotentAppends: a table of batches from producers through
// appendOnce → whether they were appended, the offset and the error code.
func TestIdempotentAppends(t *testing.T) {
	ps := newProducers()
	issued := ps.next
	ps.next += 2 // ids issued, and issued+1
	var logEnd int64
	steps := []struct {
		desc       string
		raw        []byte
		appended   bool
		offset     int64
		code       *kerr.Error
		topic      string
		partitions int32
	}{
		{"first batch at sequence 0", batch(issued, 0, 0, 3), true, 0, nil, "t", 0},
		{"the next in order", batch(issued, 0, 3, 2), true, 3, nil, "t", 0},
		{"a retry of the first: its offset, not appended", batch(issued, 0, 0, 3), false, 0, nil, "t", 0},
		{"a retry of the second", batch(issued, 0, 3, 2), false, 3, nil, "t", 0},
		{"a gap", batch(issued, 0, 7, 1), false, -1, kerr.OutOfOrderSequenceNumber, "t", 0},
		{"another partition starts at 0 of its own", batch(issued, 0, 0, 1), true, 5, nil, "t", 1},
		{"a fresh producer must start at 0", batch(issued+1, 0, 4, 1), false, -1, kerr.OutOfOrderSequenceNumber, "t", 0},
		{"an id from before a restart is taken where it is", batch(issued-1000, 0, 42, 1), true, 6, nil, "t", 0},
		{"a bumped epoch starts again at 0", batch(issued, 1, 0, 1), true, 7, nil, "t", 0},
		{"the old epoch is fenced", batch(issued, 0, 5, 1), false, -1, kerr.InvalidProducerEpoch, "t", 0},
		{"not idempotent: always appended", batch(-1, -1, -1, 1), true, 8, nil, "t", 0},
		{"not idempotent again", batch(-1, -1, -1, 2), true, 9, nil, "t", 0},
	}
	for i, s := range steps {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(s.raw); err != nil {
			t.Fatal(err)
		}
		appended := false
		offset, code := ps.appendOnce(s.topic, s.partitions, s.raw, func() (int64, int16) {
			appended = true
			logEnd += int64(b.NumRecords)
			return logEnd - int64(b.NumRecords), 0
		})
		want := int16(0)
		if s.code != nil {
			want = s.code.Code
		}
		if appended != s.appended || offset != s.offset || code != want {
			t.Fatalf("step %d (%s): appended %v at %d code %d, want %v at %d code %d", i, s.desc, appended, offset, code, s.appended, s.offset, want)
		}
	}
}
