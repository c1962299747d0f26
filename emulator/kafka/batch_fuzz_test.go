package kafka

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzBatch reaches what FuzzRequest's random bytes rarely do, past a
// batch's CRC: each input gets its length and CRC set right, then is
// parsed as a produce's records. A batch refused is refused with a Kafka
// error code; a batch taken has the records it says, and each survives
// the trip to a stored event and back to a Kafka record unchanged.
func FuzzBatch(f *testing.F) {
	f.Add(seedBatch("a", "b"))
	f.Add(batchOf(codecGzip, 2, gzipped(f, encodeRecords("c", "d"))))
	f.Add(batchOf(3, 1, encodeRecords("e")))
	f.Add(append(seedBatch("f"), seedBatch("g", "h")...))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < batchHeaderSize {
			return
		}
		raw = fixBatch(append([]byte(nil), raw...))
		recs, err := parseBatches(raw)
		if err != nil {
			var ke *kerr.Error
			if !errors.As(err, &ke) {
				t.Fatalf("a batch refused without a Kafka error code: %v", err)
			}
			return
		}
		for i := range recs {
			checkStoredRecord(t, &recs[i])
		}
	})
}

func checkStoredRecord(t *testing.T, r *kmsg.Record) {
	payload, err := storedMessage(nil, r, partlog.Meta{SequenceNumber: 1, EnqueuedTime: time.UnixMilli(1)})
	if err != nil {
		t.Fatalf("a record taken does not store: %v", err)
	}
	key, value, headers, err := kafkaRecord(payload)
	if err != nil {
		t.Fatalf("a stored record does not decode: %v", err)
	}
	if !bytes.Equal(key, r.Key) || !bytes.Equal(value, r.Value) || len(headers) != len(r.Headers) {
		t.Fatalf("a record stored and read back: key %q value %q %d headers; was key %q value %q %d headers",
			key, value, len(headers), r.Key, r.Value, len(r.Headers))
	}
	for i, h := range headers {
		if h.Key != r.Headers[i].Key || !bytes.Equal(h.Value, r.Headers[i].Value) {
			t.Fatalf("header %d stored and read back: %q=%q; was %q=%q", i, h.Key, h.Value, r.Headers[i].Key, r.Headers[i].Value)
		}
	}
}
