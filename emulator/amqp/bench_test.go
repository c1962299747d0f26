package amqp

import (
	"bytes"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// benchEvent is an event as an Event Hubs client marshals it: annotations,
// properties, application properties and a 100-byte body.
func benchEvent(tb testing.TB) []byte {
	ct := "application/json"
	b, err := (&goamqp.Message{
		Annotations: goamqp.Annotations{"x-opt-partition-key": "device-42"},
		Properties:  &goamqp.MessageProperties{MessageID: "6a8c3f0e-4a43-4a0e-9c2d-1f0f3b7d2a10", ContentType: &ct},
		ApplicationProperties: map[string]any{
			"source": "sensor", "reading": int64(21),
		},
		Data: [][]byte{bytes.Repeat([]byte{'x'}, 100)},
	}).MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchTransferFrame is a transfer frame as a client sends it: the first
// frame of an unsettled delivery of a batch holding one event.
func benchTransferFrame(tb testing.TB) []byte {
	batch, err := (&goamqp.Message{
		Annotations: goamqp.Annotations{"x-opt-partition-key": "device-42"},
		Data:        [][]byte{benchEvent(tb)},
	}).MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	id, format := uint32(1234), uint32(MessageFormatBatch)
	b, err := AppendPerformativeFrame(nil, FrameAMQP, 0, &Transfer{
		Handle: 1, DeliveryID: &id, DeliveryTag: []byte{0, 0, 0, 0, 0, 0, 0x04, 0xd2}, MessageFormat: &format, Payload: batch,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkDecodeTransfer(b *testing.B) {
	frame := benchTransferFrame(b)
	fr := NewFrameReader(&repeatReader{b: frame}, 1<<20)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := fr.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		p, err := DecodePerformative(f.Body)
		if err != nil {
			b.Fatal(err)
		}
		if t, ok := p.(*Transfer); !ok || len(t.Payload) == 0 {
			b.Fatalf("decoded %#v", p)
		}
	}
}

func BenchmarkAppendTransfer(b *testing.B) {
	id, format := uint32(1234), uint32(0)
	tr := &Transfer{Handle: 1, DeliveryID: &id, DeliveryTag: []byte{0, 0, 0, 0, 0, 0, 0x04, 0xd2}, MessageFormat: &format,
		Payload: bytes.Repeat([]byte{'p'}, 100)}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendPerformativeFrame(buf[:0], FrameAMQP, 0, tr)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkAppendTransferFrame is the hot-path encoder the emulator uses to
// deliver events, for comparison with BenchmarkAppendTransfer.
func BenchmarkAppendTransferFrame(b *testing.B) {
	payload := bytes.Repeat([]byte{'p'}, 100)
	tag := []byte{0, 0, 0, 0, 0, 0, 0x04, 0xd2}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTransferFrame(buf[:0], 0, 1, true, 1234, tag, false, false, payload)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkSplitSections(b *testing.B) {
	msg := benchEvent(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		secs, err := SplitSections(msg)
		if err != nil || len(secs) != 4 {
			b.Fatalf("%d sections, %v", len(secs), err)
		}
	}
}

// BenchmarkAppendWithAnnotations is the other half of storing an event:
// re-encoding it with the broker's annotations.
func BenchmarkAppendWithAnnotations(b *testing.B) {
	msg := benchEvent(b)
	secs, err := SplitSections(msg)
	if err != nil {
		b.Fatal(err)
	}
	ann, err := ReadAnnotations(secs)
	if err != nil {
		b.Fatal(err)
	}
	ann = ann.Set(Symbol("x-opt-sequence-number"), int64(1<<20)).Set(Symbol("x-opt-offset"), "1048576").
		Set(Symbol("x-opt-enqueued-time"), time.UnixMilli(1700000000000).UTC())
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendWithAnnotations(buf[:0], secs, ann); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDataSize is what counting the bytes of each delivered event
// costs.
func BenchmarkDataSize(b *testing.B) {
	msg := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := DataSize(msg); err != nil || n != 100 {
			b.Fatalf("%d, %v", n, err)
		}
	}
}
