package amqp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// valueSeeds are encodings of every kind of value, in the encodings this
// package writes and in the ones only a peer writes.
func valueSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, cs := range [][]codecCase{scalarCases(), variableCases(), compoundCases(), arrayElementCases()} {
		for _, c := range cs {
			b, err := Append(nil, c.v)
			if err != nil {
				t.Fatalf("encode %s: %v", c.name, err)
			}
			if len(b) <= 1024 {
				out = append(out, b)
			}
		}
	}
	return append(out,
		[]byte{0xb1, 0, 0, 0, 2, 'h', 'i'},
		[]byte{0xc0, 4, 2, 0x52, 1, 0x41},
		[]byte{0xc1, 6, 2, 0xa3, 1, 'k', 0x52, 5},
		[]byte{0xe0, 10, 2, 0x00, 0x53, 7, 0xa1, 1, 'a', 2, 'b', 'c'},
		[]byte{0xe0, 2, 3, 0x41},
		[]byte{0xe0, 7, 2, 0xc0, 2, 1, 0x41, 1, 0},
		[]byte{0x00, 0xa3, 3, 'a', 'b', 'c', 0x40},
		nest(maxDepth, []byte{codeNull}),
	)
}

// seedPerformatives is one of every performative, as the emulator and its
// clients send them.
func seedPerformatives() []Performative {
	one, two := uint32(1), uint32(2)
	return []Performative{
		&Open{ContainerID: "c", Hostname: "localhost", MaxFrameSize: 65536, ChannelMax: 10, IdleTimeout: 30000,
			OfferedCapabilities: []Symbol{"x"}, Properties: Map{{Symbol("product"), "p"}}},
		&Begin{RemoteChannel: new(uint16), NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: 5000, HandleMax: 10},
		&Attach{Name: "l", Handle: 1, Role: RoleReceiver, SndSettleMode: ptr(SenderSettleUnsettled), RcvSettleMode: ptr(ReceiverSettleFirst),
			Source: &Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0", Filter: selectorFilter, Capabilities: []Symbol{"c"}},
			Target: &Target{Address: "t", Dynamic: true}, MaxMessageSize: 1 << 20,
			Properties: Map{{Symbol("com.microsoft:epoch"), int64(3)}}},
		&Attach{Name: "s", Handle: 0, Role: RoleSender, Source: &Source{Address: "s"}, Target: &Target{Address: "eh1"}, InitialDeliveryCount: 5},
		&Flow{NextIncomingID: &one, IncomingWindow: 10, Handle: &two, DeliveryCount: &one, LinkCredit: &two, Drain: true, Echo: true},
		&Flow{IncomingWindow: 10, NextOutgoingID: 1, OutgoingWindow: 1},
		&Transfer{Handle: 1, DeliveryID: &one, DeliveryTag: []byte{1}, MessageFormat: &one, Settled: true, State: &Accepted{}, Payload: []byte("payload")},
		&Disposition{Role: RoleReceiver, First: 1, Last: &two, Settled: true, State: &Accepted{}},
		&Disposition{Role: RoleReceiver, First: 1, State: &Rejected{Error: &Error{Condition: "amqp:x", Description: "d", Info: Map{{Symbol("k"), "v"}}}}},
		&Disposition{Role: RoleSender, First: 1, State: &Modified{DeliveryFailed: true}},
		&Disposition{Role: RoleSender, First: 1, State: &Released{}},
		&Detach{Handle: 1, Closed: true, Error: &Error{Condition: "amqp:link:stolen"}},
		&End{}, &End{Error: &Error{Condition: "amqp:internal-error"}}, &Close{Error: &Error{Condition: "c"}},
	}
}

// perfSeeds are whole frames: those of seedPerformatives, a transfer from
// the hot-path encoder and a SASL exchange.
func perfSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, p := range seedPerformatives() {
		b, err := AppendPerformativeFrame(nil, FrameAMQP, 3, p)
		if err != nil {
			t.Fatalf("encode %T: %v", p, err)
		}
		out = append(out, b)
	}
	out = append(out, AppendTransferFrame(nil, 1, 2, true, 3, []byte{0, 0, 0, 0, 0, 0, 0, 4}, false, false, []byte("\x00\x53\x75\xa0\x01x")))
	return out
}

func saslSeeds(t testing.TB) [][]byte {
	mech, err := AppendPerformativeFrame(nil, FrameSASL, 0, &SASLMechanisms{Mechanisms: []Symbol{"ANONYMOUS", "PLAIN"}})
	if err != nil {
		t.Fatal(err)
	}
	init, err := Append(nil, Described{uint64(DescSASLInit), []any{Symbol("PLAIN"), []byte("\x00u\x00p")}})
	if err != nil {
		t.Fatal(err)
	}
	outcome, err := AppendPerformativeFrame(nil, FrameSASL, 0, &SASLOutcome{Code: SASLOK})
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{mech, AppendFrame(nil, FrameSASL, 0, init), outcome}
}

// goamqpMessages are messages as the official client marshals them: an
// event, a management request, a batch and one with every section.
func goamqpMessages(t testing.TB) [][]byte {
	s := func(v string) *string { return &v }
	now := time.UnixMilli(1700000000000)
	event := &goamqp.Message{
		Annotations: goamqp.Annotations{"x-opt-partition-key": "pk", "x-opt-custom": int64(1)},
		Properties:  &goamqp.MessageProperties{MessageID: "msg-1", ContentType: s("application/json")},
		ApplicationProperties: map[string]any{
			"k": "v", "n": int32(-1), "f": 1.5, "b": true, "t": now,
		},
		Data: [][]byte{bytes.Repeat([]byte("x"), 100)},
	}
	mgmt := &goamqp.Message{
		Properties: &goamqp.MessageProperties{MessageID: uint64(7), ReplyTo: s("$management-reply"), To: s("$management")},
		ApplicationProperties: map[string]any{
			"operation": "READ", "name": "eh1", "type": "com.microsoft:eventhub", "security_token": "tok",
		},
		Value: map[string]any{"k": []string{"a", "b"}},
	}
	full := &goamqp.Message{
		Header:              &goamqp.MessageHeader{Durable: true, Priority: 4, TTL: time.Minute, DeliveryCount: 2},
		DeliveryAnnotations: goamqp.Annotations{"x-opt-lock-token": goamqp.UUID{1, 2, 3}},
		Annotations:         goamqp.Annotations{"x-opt-enqueued-time": now, int64(5): "int key"},
		Properties: &goamqp.MessageProperties{MessageID: goamqp.UUID{9}, UserID: []byte("u"), Subject: s("subj"),
			CorrelationID: []byte{1, 2}, CreationTime: &now, GroupID: s("g"), GroupSequence: ptr(uint32(3))},
		ApplicationProperties: map[string]any{"a": uint64(1)},
		Sequence:              [][]any{{"a", int64(1)}, {nil}},
		Footer:                goamqp.Annotations{"f": "v"},
	}
	var out [][]byte
	for _, m := range []*goamqp.Message{event, mgmt, full} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("go-amqp MarshalBinary: %v", err)
		}
		out = append(out, b)
	}
	// A batch: data sections each holding a whole encoded message.
	batch := &goamqp.Message{Annotations: goamqp.Annotations{"x-opt-partition-key": "pk"}, Data: [][]byte{out[0], out[0]}}
	b, err := batch.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, b)
}

func messageSeeds(t testing.TB) [][]byte {
	out := goamqpMessages(t)
	for _, m := range []*Message{
		{
			Annotations:           Map{{Symbol("x-opt-sequence-number"), int64(5)}, {Symbol("x-opt-offset"), "5"}},
			Properties:            &Properties{MessageID: "id", ReplyTo: "r", CorrelationID: "c", ContentType: "text/plain"},
			ApplicationProperties: Map{{"status-code", int32(200)}},
			Data:                  [][]byte{[]byte("body")},
		},
		{Value: Map{{"partition_ids", []string{"0", "1"}}, {"created_at", time.UnixMilli(0).UTC()}}, HasValue: true},
	} {
		b, err := AppendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeValue: decoding never panics and fails only with ErrDecode; Skip
// agrees with Value on the size of what decodes; what decodes re-encodes,
// and decodes again to the same value, and the encoding is a fixed point.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range valueSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Unmarshal(b)
		d := NewDecoder(b)
		skipErr := d.Skip()
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			if v != nil {
				t.Fatalf("a value came with the error: %#v", v)
			}
			if skipErr != nil && !errors.Is(skipErr, ErrDecode) {
				t.Fatalf("Skip error %v does not wrap ErrDecode", skipErr)
			}
			return
		}
		if skipErr != nil || d.Len() != 0 {
			t.Fatalf("Value took all %d bytes, Skip stopped at %d: %v", len(b), d.Pos(), skipErr)
		}
		if hasNaN(v) {
			// NaN != NaN: arrays described by one cannot even be rebuilt.
			return
		}
		e1, err := Append(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		v2, err := Unmarshal(e1)
		if err != nil {
			t.Fatalf("decoding the re-encoding % x of %#v: %v", e1, v, err)
		}
		if !reflect.DeepEqual(canonEmpty(v), canonEmpty(v2)) {
			t.Fatalf("round trip changed %#v into %#v", v, v2)
		}
		e2, err := Append(nil, v2)
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("encoding is not a fixed point: % x then % x (%v)", e1, e2, err)
		}
	})
}

// FuzzDecodePerformative: any frame body decodes to a performative or an
// ErrDecode; a decoded performative re-encodes to a body that decodes, and
// encoding is a fixed point after one decode.
func FuzzDecodePerformative(f *testing.F) {
	for _, s := range perfSeeds(f) {
		f.Add(s[8:])
	}
	for _, s := range saslSeeds(f) {
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
		if p == nil {
			t.Fatal("nil performative without an error")
		}
		if o, ok := p.(*Open); ok && o.MaxFrameSize == 0 {
			// 0 is the encoder's "absent" (which decodes as the default,
			// 2^32-1); as a size it is invalid (under 512), so a peer
			// sending it explicitly legitimately reads back as absent.
			o.MaxFrameSize = math.MaxUint32
		}
		if hasNaN(p) {
			return
		}
		e1, err := AppendPerformativeFrame(nil, FrameAMQP, 0, p)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", p, err)
		}
		p2, err := DecodePerformative(e1[8:])
		if err != nil {
			t.Fatalf("decoding the re-encoding of %#v: %v", p, err)
		}
		if reflect.TypeOf(p2) != reflect.TypeOf(p) {
			t.Fatalf("%T came back as %T", p, p2)
		}
		if tr, ok := p.(*Transfer); ok && !bytes.Equal(tr.Payload, p2.(*Transfer).Payload) {
			t.Fatalf("transfer payload changed")
		}
		e2, err := AppendPerformativeFrame(nil, FrameAMQP, 0, p2)
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("encoding is not a fixed point:\n% x\n% x (%v)", e1, e2, err)
		}
	})
}

// FuzzSplitSections: splitting accounts for every byte in order; decoding
// and re-annotating what splits behave; a re-annotated message splits into
// the same sections with the new annotations.
func FuzzSplitSections(f *testing.F) {
	for _, s := range messageSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		secs, err := SplitSections(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		var joined []byte
		for _, s := range secs {
			if s.Code < SectionHeader || s.Code > SectionFooter {
				t.Fatalf("section code 0x%x", s.Code)
			}
			if len(s.Body) == 0 || !bytes.HasSuffix(s.Raw, s.Body) {
				t.Fatalf("section body % x is not the tail of % x", s.Body, s.Raw)
			}
			joined = append(joined, s.Raw...)
		}
		if !bytes.Equal(joined, b) {
			t.Fatalf("sections do not add up to the message")
		}

		checkDecodeMessage(t, b)

		ann, err := ReadAnnotations(secs)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("ReadAnnotations error %v does not wrap ErrDecode", err)
			}
			ann = nil
		}
		if hasNaN(ann) {
			ann = nil
		}
		ann = append(Map(nil), ann...).Set(Symbol("x-opt-offset"), "12").Set(Symbol("x-opt-sequence-number"), int64(12))
		out, err := AppendWithAnnotations([]byte("pre"), secs, ann)
		if err != nil {
			t.Fatalf("re-annotating: %v", err)
		}
		if string(out[:3]) != "pre" {
			t.Fatalf("AppendWithAnnotations overwrote its destination")
		}
		secs2, err := SplitSections(out[3:])
		if err != nil {
			t.Fatalf("the re-annotated message does not split: %v", err)
		}
		var kept, kept2 [][]byte
		for _, s := range secs {
			if s.Code != SectionMessageAnnotations {
				kept = append(kept, s.Raw)
			}
		}
		nAnn := 0
		for _, s := range secs2 {
			if s.Code == SectionMessageAnnotations {
				nAnn++
				continue
			}
			kept2 = append(kept2, s.Raw)
		}
		if nAnn != 1 || !reflect.DeepEqual(kept, kept2) {
			t.Fatalf("re-annotating changed the other sections or wrote %d annotation sections", nAnn)
		}
		got, err := ReadAnnotations(secs2)
		if err != nil {
			t.Fatalf("reading the new annotations: %v", err)
		}
		want, _ := Append(nil, ann)
		if g, _ := Append(nil, got); !bytes.Equal(g, want) {
			t.Fatalf("annotations %#v came back as %#v", ann, got)
		}
	})
}

// checkDecodeMessage: DecodeMessage fails only with ErrDecode, and what it
// decodes AppendMessage encodes to a fixed point.
func checkDecodeMessage(t *testing.T, b []byte) {
	t.Helper()
	m, err := DecodeMessage(b)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("DecodeMessage error %v does not wrap ErrDecode", err)
		}
		return
	}
	if hasNaN(m) {
		return
	}
	e1, err := AppendMessage(nil, m)
	if err != nil {
		t.Fatalf("AppendMessage(%#v): %v", m, err)
	}
	if len(e1) == 0 {
		return // nothing the emulator reads: nothing to re-encode
	}
	m2, err := DecodeMessage(e1)
	if err != nil {
		t.Fatalf("decoding the re-encoding of %#v: %v", m, err)
	}
	e2, err := AppendMessage(nil, m2)
	if err != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("message encoding is not a fixed point:\n% x\n% x (%v)", e1, e2, err)
	}
}

// FuzzReadFrame: the frame reader never panics, never returns a frame over
// its limit, returns the bytes the header delimits, and fails with a known
// error.
func FuzzReadFrame(f *testing.F) {
	var stream []byte
	for _, s := range append(perfSeeds(f), saslSeeds(f)...) {
		f.Add(s)
		stream = append(stream, s...)
	}
	f.Add(Heartbeat)
	f.Add(append(append([]byte(nil), Heartbeat...), stream...))
	f.Add([]byte{0, 0, 0, 12, 3, 0, 0, 1, 0xee, 0xee, 0xee, 0xee}) // extended header, empty body
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 4096
		fr := NewFrameReader(bytes.NewReader(b), limit)
		off := 0
		for i := 0; i < 64; i++ {
			frame, err := fr.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrDecode) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				if errors.Is(err, io.EOF) && off != len(b) {
					t.Fatalf("EOF with %d bytes left", len(b)-off)
				}
				return
			}
			size := int(binary.BigEndian.Uint32(b[off:]))
			doff := int(b[off+4]) * 4
			if size > limit || size < 8 || doff < 8 || doff > size {
				t.Fatalf("accepted a frame of size %d, data offset %d", size, doff)
			}
			if frame.Type != b[off+5] || frame.Channel != binary.BigEndian.Uint16(b[off+6:]) {
				t.Fatalf("frame header misread")
			}
			if !bytes.Equal(frame.Body, b[off+doff:off+size]) {
				t.Fatalf("frame body % x, want % x", frame.Body, b[off+doff:off+size])
			}
			off += size
			if frame.Type == FrameAMQP && len(frame.Body) > 0 {
				if _, err := DecodePerformative(frame.Body); err != nil && !errors.Is(err, ErrDecode) {
					t.Fatalf("DecodePerformative error %v does not wrap ErrDecode", err)
				}
			}
		}
	})
}
