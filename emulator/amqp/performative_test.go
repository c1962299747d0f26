package amqp

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// selectorFilter is the filter Event Hubs clients put on a receiver's source
// to pick the starting position.
var selectorFilter = Map{{
	Key:   Symbol("apache.org:selector-filter:string"),
	Value: Described{Descriptor: uint64(0x468C00000004), Value: "amqp.annotation.x-opt-offset > '-1'"},
}}

// performativeFrame encodes p into a frame and reads it back through a
// FrameReader, returning the frame and the decoded performative.
func performativeFrame(t *testing.T, channel uint16, p Performative) (Frame, Performative) {
	t.Helper()
	b, err := AppendPerformativeFrame(nil, FrameAMQP, channel, p)
	if err != nil {
		t.Fatalf("encode %T: %v", p, err)
	}
	if got := binary.BigEndian.Uint32(b); int(got) != len(b) {
		t.Fatalf("frame size field %d, frame is %d bytes", got, len(b))
	}
	fr := NewFrameReader(bytes.NewReader(b), uint32(len(b)))
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatalf("read the %T frame: %v", p, err)
	}
	if f.Type != FrameAMQP || f.Channel != channel {
		t.Fatalf("frame type %d channel %d", f.Type, f.Channel)
	}
	got, err := DecodePerformative(f.Body)
	if err != nil {
		t.Fatalf("decode %T: %v", p, err)
	}
	return f, got
}

func TestPerformativeRoundTrip(t *testing.T) {
	rejected := &Error{
		Condition:   "amqp:not-found",
		Description: "The messaging entity 'eh9' could not be found.",
		Info:        Map{{Symbol("com.microsoft:tracking-id"), "abc"}},
	}
	for _, c := range []struct {
		name string
		in   Performative
		want Performative // when decoding fills in defaults
	}{
		{"open", &Open{
			ContainerID: "client-1", Hostname: "localhost", MaxFrameSize: 65536, ChannelMax: 4999, IdleTimeout: 120000,
			OfferedCapabilities: []Symbol{"ANONYMOUS-RELAY"}, DesiredCapabilities: []Symbol{"a", "b"},
			Properties: Map{{Symbol("product"), "go-amqp"}, {Symbol("version"), "1.5.0"}},
		}, nil},
		{"open minimal", &Open{ContainerID: "c"}, &Open{ContainerID: "c", MaxFrameSize: math.MaxUint32}},
		{"begin", &Begin{RemoteChannel: ptr(uint16(3)), NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: 300, HandleMax: 255,
			Properties: Map{{Symbol("x"), true}}}, nil},
		{"begin without remote channel", &Begin{NextOutgoingID: 0, IncomingWindow: math.MaxUint32, OutgoingWindow: 1, HandleMax: math.MaxUint32}, nil},
		{"attach receiver", &Attach{
			Name: "eh1-cg-0", Handle: 7, Role: RoleReceiver, SndSettleMode: ptr(SenderSettleUnsettled), RcvSettleMode: ptr(ReceiverSettleFirst),
			Source: &Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0", Durable: 2, ExpiryPolicy: "link-detach", Timeout: 30,
				Dynamic: true, Filter: selectorFilter, Capabilities: []Symbol{"queue"}},
			Target:              &Target{Address: "receiver-1", Durable: 1, ExpiryPolicy: "never", Timeout: 5, Capabilities: []Symbol{"t"}},
			MaxMessageSize:      1 << 20,
			OfferedCapabilities: []Symbol{"com.microsoft:geo-replication"},
			DesiredCapabilities: []Symbol{"com.microsoft:epoch"},
			Properties:          Map{{Symbol("com.microsoft:epoch"), int64(3)}, {Symbol("com.microsoft:receiver-name"), "r"}},
		}, nil},
		{"attach sender", &Attach{Name: "s", Handle: 0, Role: RoleSender, SndSettleMode: ptr(SenderSettleMixed),
			Source: &Source{Address: "client"}, Target: &Target{Address: "eh1/Partitions/1"}, InitialDeliveryCount: 42}, nil},
		{"attach receiver drops initial-delivery-count",
			&Attach{Name: "r", Handle: 1, Role: RoleReceiver, InitialDeliveryCount: 9},
			&Attach{Name: "r", Handle: 1, Role: RoleReceiver}},
		{"flow session only", &Flow{NextIncomingID: ptr(uint32(10)), IncomingWindow: 5000, NextOutgoingID: 2, OutgoingWindow: 6000}, nil},
		{"flow link", &Flow{NextIncomingID: ptr(uint32(0)), IncomingWindow: 1, NextOutgoingID: 1, OutgoingWindow: 1,
			Handle: ptr(uint32(4)), DeliveryCount: ptr(uint32(100)), LinkCredit: ptr(uint32(300)), Available: ptr(uint32(0)),
			Drain: true, Echo: true, Properties: Map{{Symbol("k"), "v"}}}, nil},
		{"flow before begin", &Flow{IncomingWindow: 1, Handle: ptr(uint32(0)), LinkCredit: ptr(uint32(1))}, nil},
		{"transfer first", &Transfer{Handle: 1, DeliveryID: ptr(uint32(77)), DeliveryTag: []byte{0, 0, 0, 1}, MessageFormat: ptr(uint32(MessageFormatBatch)),
			More: true, RcvSettleMode: ptr(ReceiverSettleSecond), Payload: []byte("\x00\x53\x75\xa0\x03abc")}, nil},
		{"transfer settled with state", &Transfer{Handle: 0, DeliveryID: ptr(uint32(0)), DeliveryTag: []byte{1}, MessageFormat: ptr(uint32(0)),
			Settled: true, State: &Accepted{}, Resume: true, Aborted: true, Batchable: true, Payload: bytes.Repeat([]byte{0xab}, 1000)}, nil},
		{"transfer continuation", &Transfer{Handle: 1, More: false, Payload: []byte("rest")}, nil},
		{"disposition accepted", &Disposition{Role: RoleReceiver, First: 5, Last: ptr(uint32(9)), Settled: true, State: &Accepted{}}, nil},
		{"disposition rejected", &Disposition{Role: RoleReceiver, First: 1, State: &Rejected{Error: rejected}, Batchable: true}, nil},
		{"disposition released", &Disposition{Role: RoleSender, First: 0, Settled: true, State: &Released{}}, nil},
		{"disposition modified", &Disposition{Role: RoleReceiver, First: 3, State: &Modified{DeliveryFailed: true, UndeliverableHere: true}}, nil},
		{"disposition without state", &Disposition{Role: RoleReceiver, First: 3}, nil},
		{"detach with error", &Detach{Handle: 2, Closed: true, Error: &Error{Condition: "amqp:link:stolen", Description: "epoch 4 took over"}}, nil},
		{"detach", &Detach{Handle: math.MaxUint32}, nil},
		{"end", &End{}, nil},
		{"end with error", &End{Error: &Error{Condition: "amqp:session:unattached-handle"}}, nil},
		{"close", &Close{}, nil},
		{"close with error", &Close{Error: rejected}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, got := performativeFrame(t, 7, c.in)
			want := c.want
			if want == nil {
				want = c.in
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%#v\nwant\n%#v", got, want)
			}
			if tr, ok := got.(*Transfer); ok {
				// The payload is the rest of the frame body, not a copy.
				if len(tr.Payload) > 0 && &tr.Payload[len(tr.Payload)-1] != &f.Body[len(f.Body)-1] {
					t.Errorf("payload is not a slice of the frame body")
				}
			}
			// Encoding the decoded performative gives the same bytes.
			b1, _ := AppendPerformativeFrame(nil, FrameAMQP, 7, want)
			b2, err := AppendPerformativeFrame(nil, FrameAMQP, 7, got)
			if err != nil || !bytes.Equal(b1, b2) {
				t.Errorf("re-encoding differs: %v\n% x\n% x", err, b1, b2)
			}
		})
	}
}

func TestAttachSourceFilter(t *testing.T) {
	_, p := performativeFrame(t, 0, &Attach{Name: "r", Handle: 1, Role: RoleReceiver,
		Source: &Source{Address: "eh1/ConsumerGroups/$default/Partitions/1", Filter: selectorFilter}})
	src := p.(*Attach).Source
	v, ok := src.Filter.Get("apache.org:selector-filter:string")
	if !ok {
		t.Fatalf("filter lost its selector: %#v", src.Filter)
	}
	d, ok := v.(Described)
	if !ok || d.Descriptor != uint64(0x468C00000004) || d.Value != "amqp.annotation.x-opt-offset > '-1'" {
		t.Fatalf("selector %#v", v)
	}
}

// composite builds a described list by hand, as a peer might.
func composite(t *testing.T, desc any, fields ...any) []byte {
	t.Helper()
	return enc(t, Described{Descriptor: desc, Value: append([]any{}, fields...)})
}

func decodeOK(t *testing.T, body []byte) Performative {
	t.Helper()
	p, err := DecodePerformative(body)
	if err != nil {
		t.Fatalf("DecodePerformative(% x): %v", head(body), err)
	}
	return p
}

// TestPerformativeDefaults: fields a peer leaves out take the defaults of
// the specification.
func TestPerformativeDefaults(t *testing.T) {
	open := decodeOK(t, composite(t, uint64(DescOpen), "c")).(*Open)
	if open.MaxFrameSize != math.MaxUint32 || open.ChannelMax != math.MaxUint16 || open.IdleTimeout != 0 || open.Hostname != "" {
		t.Errorf("open defaults: %#v", open)
	}
	begin := decodeOK(t, composite(t, uint64(DescBegin), nil, uint32(1), uint32(2), uint32(3))).(*Begin)
	if begin.RemoteChannel != nil || begin.HandleMax != math.MaxUint32 || begin.OutgoingWindow != 3 {
		t.Errorf("begin defaults: %#v", begin)
	}
	// Narrower unsigned types are accepted where a uint is due, and a single
	// symbol where an array of them is.
	open = decodeOK(t, composite(t, uint64(DescOpen), Symbol("c"), nil, uint16(512), uint8(3), uint8(9),
		nil, nil, Symbol("one"))).(*Open)
	if open.ContainerID != "c" || open.MaxFrameSize != 512 || open.ChannelMax != 3 || open.IdleTimeout != 9 ||
		!reflect.DeepEqual(open.OfferedCapabilities, []Symbol{"one"}) {
		t.Errorf("lenient open: %#v", open)
	}
	flow := decodeOK(t, composite(t, uint64(DescFlow), nil, uint32(1), uint32(2), uint32(3))).(*Flow)
	if flow.Handle != nil || flow.LinkCredit != nil || flow.Drain {
		t.Errorf("flow defaults: %#v", flow)
	}
	tr := decodeOK(t, append(composite(t, uint64(DescTransfer), uint32(0)), 1, 2, 3)).(*Transfer)
	if tr.DeliveryID != nil || tr.DeliveryTag != nil || tr.State != nil || !bytes.Equal(tr.Payload, []byte{1, 2, 3}) {
		t.Errorf("transfer defaults: %#v", tr)
	}
	// The received state carries nothing the emulator uses.
	disp := decodeOK(t, composite(t, uint64(DescDisposition), true, uint32(1), nil, true,
		Described{uint64(DescReceived), []any{uint32(0), uint64(0)}})).(*Disposition)
	if disp.State != nil || !disp.Settled || disp.Role != RoleReceiver {
		t.Errorf("disposition with received: %#v", disp)
	}
	// A symbol where a string is due becomes a string; where a symbol is
	// due it is taken as it is, since it is re-encoded as a symbol.
	a := decodeOK(t, composite(t, uint64(DescAttach), Symbol("link"), uint32(0), true)).(*Attach)
	if a.Name != "link" {
		t.Errorf("symbol name: %q", a.Name)
	}
	det := decodeOK(t, composite(t, uint64(DescDetach), uint32(0), true, Described{uint64(DescError), []any{Symbol("\xfe")}})).(*Detach)
	if det.Error == nil || det.Error.Condition != "\xfe" {
		t.Errorf("error condition: %#v", det.Error)
	}
	if b, err := AppendPerformativeFrame(nil, FrameAMQP, 0, det); err != nil || !reflect.DeepEqual(decodeOK(t, b[8:]), det) {
		t.Errorf("re-encoding %#v: %v", det, err)
	}
	// A list8 with explicit trailing nulls decodes like a short list.
	close := decodeOK(t, []byte{0x00, 0x53, 0x18, 0xc0, 0x02, 0x01, 0x40}).(*Close)
	if close.Error != nil {
		t.Errorf("close with a null error: %#v", close)
	}
}

// TestSymbolicDescriptors: a peer may name composites by symbol instead of
// code; they decode alike, nested composites included.
func TestSymbolicDescriptors(t *testing.T) {
	sym := func(name string) Symbol { return Symbol("amqp:" + name + ":list") }
	errSym := Described{sym("error"), []any{Symbol("amqp:internal-error"), "boom"}}
	errNum := Described{uint64(DescError), []any{Symbol("amqp:internal-error"), "boom"}}
	cases := []struct {
		name   string
		code   uint64
		fields func(symbolic bool) []any
	}{
		{"open", DescOpen, func(bool) []any { return []any{"c", "h", uint32(1024)} }},
		{"begin", DescBegin, func(bool) []any { return []any{uint16(1), uint32(0), uint32(10), uint32(10)} }},
		{"attach", DescAttach, func(s bool) []any {
			src, tgt := Described{uint64(DescSource), []any{"a"}}, Described{uint64(DescTarget), []any{"b"}}
			if s {
				src, tgt = Described{sym("source"), []any{"a"}}, Described{sym("target"), []any{"b"}}
			}
			return []any{"l", uint32(0), true, nil, nil, src, tgt}
		}},
		{"flow", DescFlow, func(bool) []any { return []any{nil, uint32(1), uint32(0), uint32(1), uint32(0), nil, uint32(100)} }},
		{"transfer", DescTransfer, func(s bool) []any {
			st := Described{uint64(DescAccepted), []any(nil)}
			if s {
				st = Described{sym("accepted"), []any(nil)}
			}
			return []any{uint32(1), uint32(2), []byte{3}, uint32(0), true, false, nil, st}
		}},
		{"disposition", DescDisposition, func(s bool) []any {
			st := Described{uint64(DescRejected), []any{errNum}}
			if s {
				st = Described{sym("rejected"), []any{errSym}}
			}
			return []any{true, uint32(4), uint32(5), true, st}
		}},
		{"disposition modified", DescDisposition, func(s bool) []any {
			st := Described{uint64(DescModified), []any{true}}
			if s {
				st = Described{sym("modified"), []any{true}}
			}
			return []any{true, uint32(4), nil, false, st}
		}},
		{"detach", DescDetach, func(s bool) []any {
			if s {
				return []any{uint32(2), true, errSym}
			}
			return []any{uint32(2), true, errNum}
		}},
		{"end", DescEnd, func(s bool) []any {
			if s {
				return []any{errSym}
			}
			return []any{errNum}
		}},
		{"close", DescClose, func(bool) []any { return nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := strings.Fields(c.name)[0]
			numeric := decodeOK(t, composite(t, c.code, c.fields(false)...))
			symbolic := decodeOK(t, composite(t, sym(name), c.fields(true)...))
			if !reflect.DeepEqual(numeric, symbolic) {
				t.Errorf("symbolic %#v\nnumeric %#v", symbolic, numeric)
			}
		})
	}
	// The decoded values are what they should be, not merely alike.
	d := decodeOK(t, composite(t, sym("disposition"), cases[5].fields(true)...)).(*Disposition)
	rej, ok := d.State.(*Rejected)
	if !ok || rej.Error == nil || rej.Error.Condition != "amqp:internal-error" || rej.Error.Description != "boom" {
		t.Errorf("symbolic rejected state: %#v", d.State)
	}
	a := decodeOK(t, composite(t, sym("attach"), cases[2].fields(true)...)).(*Attach)
	if a.Source == nil || a.Source.Address != "a" || a.Target == nil || a.Target.Address != "b" {
		t.Errorf("symbolic source/target: %#v %#v", a.Source, a.Target)
	}
	// Unknown symbolic descriptors are refused like unknown codes.
	_, err := DecodePerformative(composite(t, Symbol("amqp:bogus:list")))
	wantDecodeErr(t, err, "unknown symbolic descriptor")
}

func TestDecodePerformativeErrors(t *testing.T) {
	src := func(fields ...any) any { return Described{uint64(DescSource), fields} }
	for _, c := range []struct {
		name string
		body []byte
		msg  string // the error must contain this
	}{
		{"open container-id uint", composite(t, uint64(DescOpen), uint32(1)), "open field 0"},
		{"open max-frame-size string", composite(t, uint64(DescOpen), "c", nil, "big"), "open field 2"},
		{"open channel-max uint", composite(t, uint64(DescOpen), "c", nil, nil, uint32(1)), "open field 3"},
		{"open capabilities string", composite(t, uint64(DescOpen), "c", nil, nil, nil, nil, nil, nil, "cap"), "open field 7"},
		{"open capabilities array of string", composite(t, uint64(DescOpen), "c", nil, nil, nil, nil, nil, nil, Array{"cap"}), "open field 7"},
		{"open properties list", composite(t, uint64(DescOpen), "c", nil, nil, nil, nil, nil, nil, nil, nil, []any{uint32(1)}), "open field 9"},
		{"begin next-outgoing-id string", composite(t, uint64(DescBegin), nil, "1"), "begin field 1"},
		{"begin remote-channel uint", composite(t, uint64(DescBegin), uint32(1)), "begin field 0"},
		{"attach handle string", composite(t, uint64(DescAttach), "l", "h", true), "attach field 1"},
		{"attach role uint", composite(t, uint64(DescAttach), "l", uint32(0), uint32(1)), "attach field 2"},
		{"attach snd-settle-mode uint", composite(t, uint64(DescAttach), "l", uint32(0), true, uint32(1)), "attach field 3"},
		{"attach max-message-size string", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil, nil, nil, nil, nil, nil, "x"), "attach field 10"},
		{"attach name a symbol not UTF-8", composite(t, uint64(DescAttach), Symbol("\xff"), uint32(0), true), "attach field 0"},
		{"attach source address a symbol not UTF-8", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil,
			src(Symbol("a\xc3"))), "source field 0"},
		{"attach without name", composite(t, uint64(DescAttach), nil, uint32(0), true), "attach without"},
		{"attach without role", composite(t, uint64(DescAttach), "l", uint32(0)), "attach without"},
		{"attach source not described", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil, []any{"a"}), "attach field 5"},
		{"attach source with target descriptor", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil,
			Described{uint64(DescTarget), []any{"a"}}), "attach field 5"},
		{"attach source address uint", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil, src(uint32(1))), "source field 0"},
		{"attach source filter list", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil,
			src("a", nil, nil, nil, nil, nil, nil, []any{})), "source field 7"},
		{"attach target dynamic uint", composite(t, uint64(DescAttach), "l", uint32(0), true, nil, nil, nil,
			Described{uint64(DescTarget), []any{"a", nil, nil, nil, uint32(1)}}), "target field 4"},
		{"flow incoming-window string", composite(t, uint64(DescFlow), nil, "w"), "flow field 1"},
		{"flow drain uint", composite(t, uint64(DescFlow), nil, uint32(1), uint32(1), uint32(1), nil, nil, nil, nil, uint32(1)), "flow field 8"},
		{"flow link-credit long", composite(t, uint64(DescFlow), nil, uint32(1), uint32(1), uint32(1), uint32(0), nil, int64(5)), "flow field 6"},
		{"transfer handle string", composite(t, uint64(DescTransfer), "h"), "transfer field 0"},
		{"transfer without handle", composite(t, uint64(DescTransfer), nil, uint32(1)), "transfer without a handle"},
		{"transfer tag string", composite(t, uint64(DescTransfer), uint32(0), uint32(1), "tag"), "transfer field 2"},
		{"transfer settled uint", composite(t, uint64(DescTransfer), uint32(0), nil, nil, nil, uint8(1)), "transfer field 4"},
		{"transfer state not described", composite(t, uint64(DescTransfer), uint32(0), nil, nil, nil, nil, nil, nil, uint32(1)), "transfer field 7"},
		{"transfer unknown state", composite(t, uint64(DescTransfer), uint32(0), nil, nil, nil, nil, nil, nil,
			Described{uint64(0x99), []any(nil)}), "transfer field 7"},
		{"disposition first string", composite(t, uint64(DescDisposition), true, "1"), "disposition field 1"},
		{"disposition role uint", composite(t, uint64(DescDisposition), uint32(1), uint32(1)), "disposition field 0"},
		{"disposition state symbol", composite(t, uint64(DescDisposition), true, uint32(1), nil, true, Symbol("accepted")), "disposition field 4"},
		{"detach handle string", composite(t, uint64(DescDetach), "x"), "detach field 0"},
		{"detach closed uint", composite(t, uint64(DescDetach), uint32(1), uint32(1)), "detach field 1"},
		{"detach error string", composite(t, uint64(DescDetach), uint32(1), true, "oops"), "detach field 2"},
		{"detach error condition uint", composite(t, uint64(DescDetach), uint32(1), true,
			Described{uint64(DescError), []any{uint32(1)}}), "error field 0"},
		{"detach error info list", composite(t, uint64(DescDetach), uint32(1), true,
			Described{uint64(DescError), []any{Symbol("c"), "d", []any{}}}), "error field 2"},
		{"end error not described", composite(t, uint64(DescEnd), Symbol("amqp:x")), "end field 0"},
		{"end error with source descriptor", composite(t, uint64(DescEnd), Described{uint64(DescSource), []any{}}), "end field 0"},
		{"close error list", composite(t, uint64(DescClose), []any{Symbol("amqp:x")}), "close field 0"},
		{"close error described string", composite(t, uint64(DescClose), Described{uint64(DescError), "x"}), "close field 0"},
		{"not described", enc(t, []any{uint32(1)}), "described list"},
		{"described map", enc(t, Described{uint64(DescOpen), Map{}}), "want a list"},
		{"unknown descriptor code", composite(t, uint64(0x30)), "unknown performative"},
		{"sasl descriptor", composite(t, uint64(DescSASLInit), Symbol("PLAIN")), "unknown performative"},
		{"error descriptor", composite(t, uint64(DescError), Symbol("PLAIN")), "unknown performative"},
		{"unknown descriptor symbol", composite(t, Symbol("amqp:frame:list")), "unknown descriptor"},
		{"trailing bytes after open", append(composite(t, uint64(DescOpen), "c"), 0x40), "after the open"},
		{"trailing bytes after close", append(composite(t, uint64(DescClose)), 0, 0), "after the close"},
		{"empty body", nil, "end of data"},
		{"truncated", composite(t, uint64(DescOpen), "container")[:8], ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := DecodePerformative(c.body)
			if err == nil {
				t.Fatalf("decoded %#v", p)
			}
			wantDecodeErr(t, err, c.name)
			if p != nil {
				t.Errorf("a performative came with the error: %#v", p)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
		})
	}
}

// TestPerformativeTruncated: every strict prefix of every performative body
// is an error, except for transfers, whose payload may be cut anywhere.
func TestPerformativeTruncated(t *testing.T) {
	for _, frame := range perfSeeds(t) {
		body := frame[8:]
		p := decodeOK(t, body)
		perfLen := len(body)
		if tr, ok := p.(*Transfer); ok {
			perfLen -= len(tr.Payload)
		}
		for i := 0; i < len(body); i++ {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("DecodePerformative(% x) panicked: %v", body[:i], r)
					}
				}()
				_, err := DecodePerformative(body[:i])
				if i < perfLen {
					wantDecodeErr(t, err, "truncated performative")
				} else if err != nil {
					t.Fatalf("transfer with a cut payload: %v", err)
				}
			}()
		}
	}
}

func TestSASL(t *testing.T) {
	init := composite(t, uint64(DescSASLInit), Symbol("PLAIN"), []byte("\x00user\x00pass"), "localhost")
	in, err := DecodeSASLInit(init)
	if err != nil {
		t.Fatal(err)
	}
	if in.Mechanism != "PLAIN" || string(in.InitialResponse) != "\x00user\x00pass" || in.Hostname != "localhost" {
		t.Errorf("sasl-init %#v", in)
	}
	in, err = DecodeSASLInit(composite(t, Symbol("amqp:sasl-init:list"), Symbol("ANONYMOUS")))
	if err != nil || in.Mechanism != "ANONYMOUS" || in.InitialResponse != nil {
		t.Errorf("symbolic sasl-init %#v, %v", in, err)
	}
	for name, body := range map[string][]byte{
		"open":           composite(t, uint64(DescOpen), "c"),
		"mechanism uint": composite(t, uint64(DescSASLInit), uint32(1)),
		"response str":   composite(t, uint64(DescSASLInit), Symbol("PLAIN"), "resp"),
		"not described":  enc(t, Symbol("PLAIN")),
	} {
		if _, err := DecodeSASLInit(body); err == nil {
			t.Errorf("%s: decoded", name)
		} else {
			wantDecodeErr(t, err, name)
		}
	}

	mech, err := (&SASLMechanisms{Mechanisms: []Symbol{"ANONYMOUS", "PLAIN"}}).AppendAMQP(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Described{uint64(DescSASLMechanisms), []any{Array{Symbol("ANONYMOUS"), Symbol("PLAIN")}}}
	if got := mustDecode(t, mech); !reflect.DeepEqual(got, want) {
		t.Errorf("sasl-mechanisms decodes as %#v", got)
	}
	out, err := AppendPerformativeFrame(nil, FrameSASL, 0, &SASLOutcome{Code: SASLAuth})
	if err != nil {
		t.Fatal(err)
	}
	if out[5] != FrameSASL {
		t.Errorf("frame type %d", out[5])
	}
	if got := mustDecode(t, out[8:]); !reflect.DeepEqual(got, Described{uint64(DescSASLOutcome), []any{SASLAuth, nil}}) {
		t.Errorf("sasl-outcome decodes as %#v", got)
	}
}

// TestAppendTransferFrame: the hand-written hot-path encoder agrees with the
// generic decoder, and stays within TransferOverhead.
func TestAppendTransferFrame(t *testing.T) {
	payload := bytes.Repeat([]byte{0x5a}, 100)
	for _, c := range []struct {
		name    string
		first   bool
		handle  uint32
		id      uint32
		tag     []byte
		settled bool
		more    bool
		want    *Transfer
	}{
		{"first", true, 1, 0, []byte{0, 0, 0, 0, 0, 0, 0, 0}, false, true,
			&Transfer{Handle: 1, DeliveryID: ptr(uint32(0)), DeliveryTag: []byte{0, 0, 0, 0, 0, 0, 0, 0}, MessageFormat: ptr(uint32(0)), More: true}},
		{"first, large numbers", true, math.MaxUint32, math.MaxUint32, bytes.Repeat([]byte{0xff}, 8), true, false,
			&Transfer{Handle: math.MaxUint32, DeliveryID: ptr(uint32(math.MaxUint32)), DeliveryTag: bytes.Repeat([]byte{0xff}, 8),
				MessageFormat: ptr(uint32(0)), Settled: true}},
		{"continuation", false, 300, 12, []byte{1}, true, false, &Transfer{Handle: 300, Settled: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := AppendTransferFrame(append([]byte(nil), prefix...), 9, c.handle, c.first, c.id, c.tag, c.settled, c.more, payload)
			if !bytes.Equal(b[:len(prefix)], prefix) {
				t.Fatalf("prefix overwritten")
			}
			b = b[len(prefix):]
			if overhead := len(b) - len(payload); overhead > TransferOverhead {
				t.Errorf("overhead %d > TransferOverhead %d", overhead, TransferOverhead)
			}
			fr := NewFrameReader(bytes.NewReader(b), MinMaxFrameSize)
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if f.Channel != 9 || f.Type != FrameAMQP {
				t.Errorf("channel %d type %d", f.Channel, f.Type)
			}
			p := decodeOK(t, f.Body)
			c.want.Payload = payload
			if !reflect.DeepEqual(p, c.want) {
				t.Errorf("decoded %#v\nwant %#v", p, c.want)
			}
		})
	}
}
