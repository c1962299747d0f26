package amqp

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// seedValues are encodings of every kind of value, the fuzzers' seeds.
func seedValues(t testing.TB) [][]byte {
	vals := []any{
		nil, true, false, uint8(7), uint16(300), uint32(0), uint32(200), uint32(70000),
		uint64(0), uint64(9), uint64(1 << 40), int8(-3), int16(-300), int32(-5), int32(1 << 20),
		int64(-1), int64(1 << 40), float32(1.5), 2.25, Char('é'), time.UnixMilli(1700000000123).UTC(),
		UUID{1, 2, 3}, []byte("bin"), bytes.Repeat([]byte{1}, 300), "str", string(bytes.Repeat([]byte("s"), 300)),
		Symbol("sym"), []any{uint32(1), "two", []any{Symbol("three")}},
		Map{{Key: Symbol("k"), Value: int64(1)}, {Key: uint64(2), Value: "v"}, {Key: "s", Value: Map{}}},
		Array{"a", "b"}, Array{Symbol("x")}, Array{int64(1), int64(2)},
		Described{Descriptor: uint64(0x468C00000004), Value: "amqp.annotation.x-opt-offset > '-1'"},
	}
	var out [][]byte
	for _, v := range vals {
		b, err := Append(nil, v)
		if err != nil {
			t.Fatalf("encode %T: %v", v, err)
		}
		out = append(out, b)
	}
	return out
}

func seedFrames(t testing.TB) [][]byte {
	one, two := uint32(1), uint32(2)
	perfs := []Marshaler{
		&Open{ContainerID: "c", MaxFrameSize: 65536, ChannelMax: 10, IdleTimeout: 30000},
		&Begin{RemoteChannel: new(uint16), NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: 5000, HandleMax: 10},
		&Attach{Name: "l", Handle: 1, Role: RoleReceiver, Source: &Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0",
			Filter: Map{{Key: Symbol("apache.org:selector-filter:string"), Value: Described{Descriptor: uint64(0x468C00000004), Value: "x"}}}},
			Target: &Target{Address: "t"}, Properties: Map{{Key: Symbol("com.microsoft:epoch"), Value: int64(3)}}},
		&Flow{NextIncomingID: &one, IncomingWindow: 10, Handle: &two, DeliveryCount: &one, LinkCredit: &two, Drain: true},
		&Transfer{Handle: 1, DeliveryID: &one, DeliveryTag: []byte{1}, MessageFormat: &one, Payload: []byte("payload")},
		&Disposition{Role: RoleReceiver, First: 1, Last: &two, Settled: true, State: &Rejected{Error: &Error{Condition: "amqp:x", Description: "d"}}},
		&Detach{Handle: 1, Closed: true, Error: &Error{Condition: "amqp:link:stolen"}},
		&End{}, &Close{Error: &Error{Condition: "c"}},
	}
	var out [][]byte
	for _, p := range perfs {
		b, err := AppendPerformativeFrame(nil, FrameAMQP, 3, p)
		if err != nil {
			t.Fatalf("encode %T: %v", p, err)
		}
		out = append(out, b)
	}
	return out
}

func seedMessages(t testing.TB) [][]byte {
	m := &Message{
		Annotations:           Map{{Key: Symbol("x-opt-partition-key"), Value: "k"}},
		Properties:            &Properties{MessageID: "id", ReplyTo: "r", CorrelationID: "c", ContentType: "text/plain"},
		ApplicationProperties: Map{{Key: "operation", Value: "READ"}},
		Data:                  [][]byte{[]byte("body")},
	}
	b, err := AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := AppendMessage(nil, &Message{Value: Map{{Key: "partition_ids", Value: []string{"0", "1"}}}, HasValue: true})
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{b, v}
}

func hasNaN(v any) bool {
	switch v := v.(type) {
	case float32:
		return math.IsNaN(float64(v))
	case float64:
		return math.IsNaN(v)
	case []any:
		for _, e := range v {
			if hasNaN(e) {
				return true
			}
		}
	case Array:
		for _, e := range v {
			if hasNaN(e) {
				return true
			}
		}
	case Map:
		for _, kv := range v {
			if hasNaN(kv.Key) || hasNaN(kv.Value) {
				return true
			}
		}
	case Described:
		return hasNaN(v.Descriptor) || hasNaN(v.Value)
	}
	return false
}

// FuzzUnmarshal: decoding never panics, errors wrap ErrDecode, and what
// decodes re-encodes to something that decodes to the same value.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range seedValues(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		enc, err := Append(nil, v)
		if err != nil {
			// Mixed-type arrays cannot be rebuilt from their decoded form
			// only when they held described or compound elements.
			if _, isArr := v.(Array); isArr {
				return
			}
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		v2, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("decoding the re-encoding of %#v: %v", v, err)
		}
		if !hasNaN(v) && !reflect.DeepEqual(normalize(v), normalize(v2)) {
			t.Fatalf("round trip changed %#v into %#v", v, v2)
		}
	})
}

// normalize maps values whose encodings legitimately differ after a round
// trip (an empty list decodes as nil, an empty array's element type is
// lost) to one form.
func normalize(v any) any {
	switch v := v.(type) {
	case []any:
		if len(v) == 0 {
			return []any(nil)
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case Array:
		if len(v) == 0 {
			return Array(nil)
		}
		out := make(Array, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case Map:
		out := make(Map, len(v))
		for i, kv := range v {
			out[i] = KV{normalize(kv.Key), normalize(kv.Value)}
		}
		return out
	case Described:
		return Described{normalize(v.Descriptor), normalize(v.Value)}
	}
	return v
}

// FuzzPerformative: any frame body decodes to a performative or an error.
func FuzzPerformative(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s[8:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodePerformative(body)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		if _, err := AppendPerformativeFrame(nil, FrameAMQP, 0, p); err != nil {
			t.Fatalf("re-encoding %#v: %v", p, err)
		}
	})
}

// FuzzFrame: the frame reader never panics nor reads past its limit.
func FuzzFrame(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
	}
	f.Add(Heartbeat)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bytes.NewReader(b), 4096)
		for i := 0; i < 16; i++ {
			frame, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if len(frame.Body) > 4096 {
				t.Fatalf("a %d-byte body passed a 4096-byte limit", len(frame.Body))
			}
			if len(frame.Body) > 0 {
				DecodePerformative(frame.Body)
			}
		}
	})
}

// FuzzMessage: splitting and decoding messages never panics, and splitting
// accounts for every byte.
func FuzzMessage(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		secs, err := SplitSections(b)
		if err != nil {
			return
		}
		total := 0
		for _, s := range secs {
			total += len(s.Raw)
		}
		if total != len(b) {
			t.Fatalf("sections cover %d of %d bytes", total, len(b))
		}
		DecodeMessage(b)
		if ann, err := ReadAnnotations(secs); err == nil {
			if _, err := AppendWithAnnotations(nil, secs, ann.Set(Symbol("x-opt-offset"), "1")); err != nil {
				t.Fatalf("re-annotating: %v", err)
			}
		}
	})
}
