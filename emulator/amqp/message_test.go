package amqp

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

func strp(s string) *string { return &s }

func goMarshal(t *testing.T, m *goamqp.Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("go-amqp MarshalBinary: %v", err)
	}
	return b
}

func goUnmarshal(t *testing.T, b []byte) *goamqp.Message {
	t.Helper()
	var m goamqp.Message
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatalf("go-amqp UnmarshalBinary(% x): %v", head(b), err)
	}
	return &m
}

func sectionCodes(t *testing.T, b []byte) []uint64 {
	t.Helper()
	secs, err := SplitSections(b)
	if err != nil {
		t.Fatalf("SplitSections: %v", err)
	}
	var codes []uint64
	for _, s := range secs {
		codes = append(codes, s.Code)
	}
	return codes
}

func decodeMessage(t *testing.T, b []byte) *Message {
	t.Helper()
	m, err := DecodeMessage(b)
	if err != nil {
		t.Fatalf("DecodeMessage: %v", err)
	}
	return m
}

func wantGet(t *testing.T, m Map, key string, want any) {
	t.Helper()
	got, ok := m.Get(key)
	if !ok {
		t.Errorf("%q missing from %#v", key, m)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q = %#v (%T), want %#v (%T)", key, got, got, want, want)
	}
}

// TestFromGoAMQP: messages the official client marshals decode here.
func TestFromGoAMQP(t *testing.T) {
	when := time.UnixMilli(1700000000123).UTC()
	b := goMarshal(t, &goamqp.Message{
		Annotations: goamqp.Annotations{"x-opt-partition-key": "pk", "x-opt-n": int64(9), int64(42): "int key"},
		Properties: &goamqp.MessageProperties{
			MessageID: "msg-1", ReplyTo: strp("$management-reply"), CorrelationID: "corr-1",
			ContentType: strp("application/json"), To: strp("$management"), Subject: strp("subj"),
		},
		ApplicationProperties: map[string]any{
			"operation": "READ", "count": int32(3), "when": when, "ok": true, "ratio": 0.5,
			"bin": []byte{1, 2}, "big": uint64(1 << 40), "sym": goamqp.Symbol("s"),
		},
		Data: [][]byte{[]byte("first"), bytes.Repeat([]byte{0xaa}, 300)},
	})
	if got, want := sectionCodes(t, b), []uint64{0x72, 0x73, 0x74, 0x75, 0x75}; !reflect.DeepEqual(got, want) {
		t.Errorf("sections %x, want %x", got, want)
	}
	m := decodeMessage(t, b)

	wantGet(t, m.Annotations, "x-opt-partition-key", "pk")
	wantGet(t, m.Annotations, "x-opt-n", int64(9))
	if v, ok := m.Annotations.Get(int64(42)); !ok || v != "int key" {
		t.Errorf("integer annotation key: %#v, %v", v, ok)
	}
	for _, kv := range m.Annotations {
		if _, isInt := kv.Key.(int64); !isInt {
			if _, ok := kv.Key.(Symbol); !ok {
				t.Errorf("annotation key %#v is not a symbol", kv.Key)
			}
		}
	}
	wantProps := &Properties{MessageID: "msg-1", To: "$management", Subject: "subj", ReplyTo: "$management-reply",
		CorrelationID: "corr-1", ContentType: "application/json"}
	if !reflect.DeepEqual(m.Properties, wantProps) {
		t.Errorf("properties %#v, want %#v", m.Properties, wantProps)
	}
	ap := m.ApplicationProperties
	if len(ap) != 8 {
		t.Errorf("%d application properties: %#v", len(ap), ap)
	}
	wantGet(t, ap, "operation", "READ")
	wantGet(t, ap, "count", int32(3))
	wantGet(t, ap, "when", when)
	wantGet(t, ap, "ok", true)
	wantGet(t, ap, "ratio", 0.5)
	wantGet(t, ap, "bin", []byte{1, 2})
	wantGet(t, ap, "big", uint64(1<<40))
	wantGet(t, ap, "sym", Symbol("s"))
	for _, kv := range ap {
		if _, ok := kv.Key.(string); !ok {
			t.Errorf("application property key %#v is not a string", kv.Key)
		}
	}
	if len(m.Data) != 2 || string(m.Data[0]) != "first" || !bytes.Equal(m.Data[1], bytes.Repeat([]byte{0xaa}, 300)) {
		t.Errorf("data %q", m.Data)
	}
	if m.HasValue {
		t.Errorf("a data message has a value: %#v", m.Value)
	}
}

// TestFromGoAMQPManagementRequest: the request the Event Hubs SDKs send to
// $management, with an amqp-value body.
func TestFromGoAMQPManagementRequest(t *testing.T) {
	b := goMarshal(t, &goamqp.Message{
		Properties: &goamqp.MessageProperties{MessageID: uint64(77), ReplyTo: strp("$management-client-1")},
		ApplicationProperties: map[string]any{
			"operation": "READ", "name": "eh1", "type": "com.microsoft:partition", "partition": "1",
			"security_token": "SharedAccessSignature sr=x",
		},
		Value: map[string]any{"list": []string{"a", "b"}, "n": int64(-5), "nested": map[string]any{"k": nil}},
	})
	if got, want := sectionCodes(t, b), []uint64{0x73, 0x74, 0x77}; !reflect.DeepEqual(got, want) {
		t.Errorf("sections %x, want %x", got, want)
	}
	m := decodeMessage(t, b)
	if m.Properties == nil || m.Properties.MessageID != uint64(77) || m.Properties.ReplyTo != "$management-client-1" {
		t.Errorf("properties %#v", m.Properties)
	}
	wantGet(t, m.ApplicationProperties, "operation", "READ")
	wantGet(t, m.ApplicationProperties, "partition", "1")
	if !m.HasValue {
		t.Fatal("no value")
	}
	v, ok := m.Value.(Map)
	if !ok || len(v) != 3 {
		t.Fatalf("value %#v", m.Value)
	}
	wantGet(t, v, "list", Array{"a", "b"})
	wantGet(t, v, "n", int64(-5))
	wantGet(t, v, "nested", Map{{"k", nil}})
	if m.Annotations != nil || m.Data != nil {
		t.Errorf("sections that were not sent: %#v %#v", m.Annotations, m.Data)
	}

	// The identifiers the specification allows, and value bodies of other
	// types.
	for _, c := range []struct {
		id, wantID any
		value      any
		want       any
	}{
		{"s", "s", goamqp.Null{}, nil},
		{uint64(1 << 50), uint64(1 << 50), "text", "text"},
		{goamqp.UUID{1, 2, 3}, UUID{1, 2, 3}, []any{int32(1), "x"}, []any{int32(1), "x"}},
		{[]byte{9, 9}, []byte{9, 9}, []goamqp.Symbol{"a"}, Array{Symbol("a")}},
	} {
		b := goMarshal(t, &goamqp.Message{Properties: &goamqp.MessageProperties{MessageID: c.id, CorrelationID: c.id}, Value: c.value})
		m := decodeMessage(t, b)
		if !reflect.DeepEqual(m.Properties.MessageID, c.wantID) || !reflect.DeepEqual(m.Properties.CorrelationID, c.wantID) {
			t.Errorf("id %#v decoded as %#v / %#v", c.id, m.Properties.MessageID, m.Properties.CorrelationID)
		}
		if !m.HasValue || !reflect.DeepEqual(m.Value, c.want) {
			t.Errorf("value %#v decoded as %#v (has value %v)", c.value, m.Value, m.HasValue)
		}
	}
}

// fullGoMessage has every section go-amqp writes.
func fullGoMessage(withAnnotations bool) *goamqp.Message {
	m := &goamqp.Message{
		Header:              &goamqp.MessageHeader{Durable: true, Priority: 4, TTL: time.Minute, DeliveryCount: 1},
		DeliveryAnnotations: goamqp.Annotations{"x-opt-lock-token": "t"},
		Properties:          &goamqp.MessageProperties{MessageID: "m", Subject: strp("s"), GroupSequence: ptr(uint32(3))},
		ApplicationProperties: map[string]any{
			"app": "v",
		},
		Data:   [][]byte{[]byte("one"), []byte("two")},
		Footer: goamqp.Annotations{"f": int64(1)},
	}
	if withAnnotations {
		m.Annotations = goamqp.Annotations{"x-opt-partition-key": "pk", "x-opt-old": int64(1)}
	}
	return m
}

func TestFromGoAMQPAllSections(t *testing.T) {
	b := goMarshal(t, fullGoMessage(true))
	want := []uint64{0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x75, 0x78}
	if got := sectionCodes(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("sections %x, want %x", got, want)
	}
	m := decodeMessage(t, b)
	wantGet(t, m.Annotations, "x-opt-partition-key", "pk")
	if len(m.Data) != 2 || m.Properties.Subject != "s" {
		t.Errorf("decoded %#v", m)
	}
	secs, _ := SplitSections(b)
	var joined []byte
	for _, s := range secs {
		joined = append(joined, s.Raw...)
		if !bytes.HasSuffix(s.Raw, s.Body) || len(s.Raw)-len(s.Body) != 3 {
			t.Errorf("section 0x%x: descriptor of %d bytes", s.Code, len(s.Raw)-len(s.Body))
		}
	}
	if !bytes.Equal(joined, b) {
		t.Error("sections do not add up to the message")
	}
	// A sequence body splits too.
	seq := goMarshal(t, &goamqp.Message{Sequence: [][]any{{"a"}, {int64(1)}}})
	if got := sectionCodes(t, seq); !reflect.DeepEqual(got, []uint64{0x76, 0x76}) {
		t.Errorf("sequence sections %x", got)
	}
}

// TestToGoAMQP: what the emulator encodes, the official client reads with
// the Go types the Event Hubs SDK expects.
func TestToGoAMQP(t *testing.T) {
	created := time.UnixMilli(1700000000000).UTC()
	createdGo := time.UnixMilli(1700000000000) // go-amqp gives local times
	resp := &Message{
		Properties: &Properties{MessageID: "resp-1", CorrelationID: uint64(77), To: "$management-client-1", ContentType: "application/json"},
		ApplicationProperties: Map{
			{"status-code", int32(200)},
			{"status-description", "OK"},
		},
		Value: Map{
			{"name", "eh1"},
			{"type", "com.microsoft:eventhub"},
			{"created_at", created},
			{"partition_count", int32(2)},
			{"partition_ids", []string{"0", "1"}},
			{"begin_sequence_number", int64(-1)},
			{"is_partition_empty", true},
		},
		HasValue: true,
	}
	b, err := AppendMessage(nil, resp)
	if err != nil {
		t.Fatal(err)
	}
	gm := goUnmarshal(t, b)
	if gm.Properties == nil || gm.Properties.MessageID != "resp-1" || gm.Properties.CorrelationID != uint64(77) ||
		gm.Properties.To == nil || *gm.Properties.To != "$management-client-1" ||
		gm.Properties.ContentType == nil || *gm.Properties.ContentType != "application/json" {
		t.Errorf("properties %#v", gm.Properties)
	}
	if code, ok := gm.ApplicationProperties["status-code"].(int32); !ok || code != 200 {
		t.Errorf("status-code %#v (%T), want int32 200", gm.ApplicationProperties["status-code"], gm.ApplicationProperties["status-code"])
	}
	if gm.ApplicationProperties["status-description"] != "OK" {
		t.Errorf("status-description %#v", gm.ApplicationProperties["status-description"])
	}
	v, ok := gm.Value.(map[string]any)
	if !ok {
		t.Fatalf("value is a %T, want map[string]any", gm.Value)
	}
	if ids, ok := v["partition_ids"].([]string); !ok || !reflect.DeepEqual(ids, []string{"0", "1"}) {
		t.Errorf("partition_ids %#v (%T), want []string", v["partition_ids"], v["partition_ids"])
	}
	if c, ok := v["created_at"].(time.Time); !ok || !c.Equal(created) {
		t.Errorf("created_at %#v (%T)", v["created_at"], v["created_at"])
	}
	if n, ok := v["partition_count"].(int32); !ok || n != 2 {
		t.Errorf("partition_count %#v (%T)", v["partition_count"], v["partition_count"])
	}
	if v["name"] != "eh1" || v["type"] != "com.microsoft:eventhub" || v["begin_sequence_number"] != int64(-1) || v["is_partition_empty"] != true {
		t.Errorf("value %#v", v)
	}
	if len(v) != 7 {
		t.Errorf("%d entries in %#v", len(v), v)
	}

	// Symbol keys read as strings too; arrays keep their element types.
	for _, c := range []struct {
		value any
		want  any
	}{
		{Map{{Symbol("a"), int64(1)}}, map[string]any{"a": int64(1)}},
		{[]string{"x", "y"}, []string{"x", "y"}},
		{[]string{}, []string(nil)}, // an empty array still has a type go-amqp knows
		{[]Symbol{"s"}, []goamqp.Symbol{"s"}},
		{[]Symbol{}, []goamqp.Symbol(nil)},
		{Array{int64(1), int64(2)}, []int64{1, 2}},
		{Array{int32(7)}, []int32{7}},
		{Map{{"ids", []string{}}}, map[string]any{"ids": []string(nil)}},
		{[]any{"a", int32(1), nil}, []any{"a", int32(1), nil}},
		{Map{{uint64(1), "x"}}, map[any]any{uint64(1): "x"}},
		{created, createdGo},
		{UUID{5}, goamqp.UUID{5}},
		{"plain", "plain"},
	} {
		b, err := AppendMessage(nil, &Message{Value: c.value, HasValue: true})
		if err != nil {
			t.Fatal(err)
		}
		gm := goUnmarshal(t, b)
		if !reflect.DeepEqual(gm.Value, c.want) {
			t.Errorf("value %#v came out of go-amqp as %#v (%T), want %#v (%T)", c.value, gm.Value, gm.Value, c.want, c.want)
		}
	}

	// An event as the emulator delivers it.
	ev := &Message{
		Annotations: Map{
			{Symbol("x-opt-sequence-number"), int64(5)},
			{Symbol("x-opt-offset"), "1024"},
			{Symbol("x-opt-enqueued-time"), created},
			{Symbol("x-opt-partition-key"), "pk"},
		},
		Properties:            &Properties{MessageID: UUID{1}},
		ApplicationProperties: Map{{"k", "v"}, {"n", int32(-3)}},
		Data:                  [][]byte{[]byte("body")},
	}
	b, err = AppendMessage(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	gm = goUnmarshal(t, b)
	wantAnn := goamqp.Annotations{"x-opt-sequence-number": int64(5), "x-opt-offset": "1024", "x-opt-enqueued-time": createdGo, "x-opt-partition-key": "pk"}
	if !reflect.DeepEqual(gm.Annotations, wantAnn) {
		t.Errorf("annotations %#v", gm.Annotations)
	}
	if gm.Properties.MessageID != (goamqp.UUID{1}) || gm.ApplicationProperties["n"] != int32(-3) || gm.ApplicationProperties["k"] != "v" {
		t.Errorf("properties %#v %#v", gm.Properties, gm.ApplicationProperties)
	}
	if len(gm.Data) != 1 || string(gm.Data[0]) != "body" || gm.Value != nil {
		t.Errorf("body %q %#v", gm.Data, gm.Value)
	}
	// And back: what go-amqp writes from that, decodes here to the same.
	again := decodeMessage(t, goMarshal(t, gm))
	wantGet(t, again.Annotations, "x-opt-offset", "1024")
	wantGet(t, again.Annotations, "x-opt-enqueued-time", created)
	if again.Properties.MessageID != (UUID{1}) || string(again.Data[0]) != "body" {
		t.Errorf("round trip through go-amqp: %#v", again)
	}
}

func TestAppendMessageLayout(t *testing.T) {
	b, err := AppendMessage([]byte("x"), &Message{
		Annotations:           Map{{Symbol("a"), "1"}},
		Properties:            &Properties{ReplyTo: "r"},
		ApplicationProperties: Map{{"k", "v"}},
		Data:                  [][]byte{{1}, {2}},
		Value:                 "v",
		HasValue:              true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 'x' {
		t.Fatal("destination overwritten")
	}
	if got := sectionCodes(t, b[1:]); !reflect.DeepEqual(got, []uint64{0x72, 0x73, 0x74, 0x75, 0x75, 0x77}) {
		t.Errorf("sections %x", got)
	}
	m := decodeMessage(t, b[1:])
	// Properties fields before reply-to are null, and trailing ones left out.
	if m.Properties.ReplyTo != "r" || m.Properties.MessageID != nil || m.Properties.To != "" {
		t.Errorf("properties %#v", m.Properties)
	}
	// Empty sections are left out.
	b, err = AppendMessage(nil, &Message{Annotations: Map{}, ApplicationProperties: Map{}, Data: [][]byte{nil}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte{0x00, 0x53, 0x75, 0xa0, 0x00}) {
		t.Errorf("a message with only an empty data section: % x", b)
	}
	if _, err := AppendMessage(nil, &Message{Value: struct{}{}, HasValue: true}); err == nil {
		t.Error("a value of an unknown type encoded")
	}
}

func annSection(t *testing.T, ann Map) []byte {
	t.Helper()
	b, err := AppendMap(AppendDescriptor(nil, SectionMessageAnnotations), ann)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendWithAnnotations: replacing the annotations of an encoded event
// keeps every other section's bytes, and puts the section where the
// specification wants it.
func TestAppendWithAnnotations(t *testing.T) {
	enqueued := time.UnixMilli(1700000000456).UTC()
	ann := Map{
		{Symbol("x-opt-partition-key"), "pk"},
		{Symbol("x-opt-sequence-number"), int64(41)},
		{Symbol("x-opt-offset"), "4096"},
		{Symbol("x-opt-enqueued-time"), enqueued},
	}
	wantGoAnn := goamqp.Annotations{
		"x-opt-partition-key": "pk", "x-opt-sequence-number": int64(41), "x-opt-offset": "4096",
		"x-opt-enqueued-time": time.UnixMilli(enqueued.UnixMilli()), // go-amqp gives local times
	}
	for _, c := range []struct {
		name  string
		msg   *goamqp.Message
		codes []uint64 // of the result
		at    int      // index of the annotations section in the result
	}{
		{"all sections, annotations replaced", fullGoMessage(true), []uint64{0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x75, 0x78}, 2},
		{"all sections, annotations inserted", fullGoMessage(false), []uint64{0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x75, 0x78}, 2},
		{"header only", &goamqp.Message{Header: &goamqp.MessageHeader{Durable: true}}, []uint64{0x70, 0x72}, 1},
		{"header and delivery annotations", &goamqp.Message{Header: &goamqp.MessageHeader{Priority: 4},
			DeliveryAnnotations: goamqp.Annotations{"d": "v"}}, []uint64{0x70, 0x71, 0x72}, 2},
		{"delivery annotations and properties", &goamqp.Message{DeliveryAnnotations: goamqp.Annotations{"d": "v"},
			Properties: &goamqp.MessageProperties{MessageID: "m"}}, []uint64{0x71, 0x72, 0x73}, 1},
		{"data only", goamqp.NewMessage([]byte("event body")), []uint64{0x72, 0x75}, 0},
		{"application properties and value", &goamqp.Message{ApplicationProperties: map[string]any{"a": "b"}, Value: int64(3)},
			[]uint64{0x72, 0x74, 0x77}, 0},
		{"annotations and data", &goamqp.Message{Annotations: goamqp.Annotations{"x-opt-partition-key": "old"}, Data: [][]byte{{1}}},
			[]uint64{0x72, 0x75}, 0},
		{"annotations only", &goamqp.Message{Annotations: goamqp.Annotations{"x": "y"}}, []uint64{0x72}, 0},
		{"footer only", &goamqp.Message{Footer: goamqp.Annotations{"f": "v"}}, []uint64{0x72, 0x78}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := goMarshal(t, c.msg)
			secs, err := SplitSections(orig)
			if err != nil {
				t.Fatal(err)
			}
			out, err := AppendWithAnnotations([]byte("dst"), secs, ann)
			if err != nil {
				t.Fatal(err)
			}
			if string(out[:3]) != "dst" {
				t.Fatal("destination overwritten")
			}
			out = out[3:]
			// Byte for byte: the old sections minus old annotations, with
			// the new section at its place.
			var want [][]byte
			for _, s := range secs {
				if s.Code != SectionMessageAnnotations {
					want = append(want, s.Raw)
				}
			}
			want = append(want[:c.at], append([][]byte{annSection(t, ann)}, want[c.at:]...)...)
			if !bytes.Equal(out, bytes.Join(want, nil)) {
				t.Fatalf("re-annotated message\n% x\nwant\n% x", out, bytes.Join(want, nil))
			}
			if got := sectionCodes(t, out); !reflect.DeepEqual(got, c.codes) {
				t.Errorf("sections %x, want %x", got, c.codes)
			}
			secs2, _ := SplitSections(out)
			got, err := ReadAnnotations(secs2)
			if err != nil || !reflect.DeepEqual(got, ann) {
				t.Errorf("annotations read back as %#v, %v", got, err)
			}
			// The official client reads the new annotations and the rest as
			// it was.
			gm := goUnmarshal(t, out)
			if !reflect.DeepEqual(gm.Annotations, wantGoAnn) {
				t.Errorf("go-amqp annotations %#v", gm.Annotations)
			}
			before := goUnmarshal(t, orig)
			before.Annotations, gm.Annotations = nil, nil
			if !reflect.DeepEqual(before, gm) {
				t.Errorf("the other sections changed:\n%#v\n%#v", before, gm)
			}
		})
	}

	// The secs of an untouched message are not modified by re-annotating,
	// so the same event can be re-annotated twice.
	orig := goMarshal(t, fullGoMessage(true))
	secs, _ := SplitSections(orig)
	keep := append([]byte(nil), orig...)
	a, _ := AppendWithAnnotations(nil, secs, ann)
	b, _ := AppendWithAnnotations(nil, secs, ann)
	if !bytes.Equal(a, b) || !bytes.Equal(orig, keep) {
		t.Error("re-annotating modified its input")
	}
	// An annotation of a type that cannot be encoded is an error.
	if _, err := AppendWithAnnotations(nil, secs, Map{{Symbol("x"), struct{}{}}}); err == nil {
		t.Error("encoded an unencodable annotation")
	}
	// Empty annotations still give a valid, empty section.
	out, err := AppendWithAnnotations(nil, secs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gm := goUnmarshal(t, out); len(gm.Annotations) != 0 || len(gm.Data) != 2 {
		t.Errorf("with no annotations: %#v", gm)
	}
}

func TestReadAnnotations(t *testing.T) {
	secs, err := SplitSections(goMarshal(t, goamqp.NewMessage([]byte("x"))))
	if err != nil {
		t.Fatal(err)
	}
	if ann, err := ReadAnnotations(secs); ann != nil || err != nil {
		t.Errorf("no annotations section: %#v, %v", ann, err)
	}
	secs, err = SplitSections(goMarshal(t, &goamqp.Message{Annotations: goamqp.Annotations{"x-opt-partition-key": "p"}, Data: [][]byte{{1}}}))
	if err != nil {
		t.Fatal(err)
	}
	ann, err := ReadAnnotations(secs)
	if err != nil || !reflect.DeepEqual(ann, Map{{Symbol("x-opt-partition-key"), "p"}}) {
		t.Errorf("annotations %#v, %v", ann, err)
	}
	for name, b := range map[string][]byte{
		"list":    {0x00, 0x53, 0x72, 0x45},
		"string":  {0x00, 0x53, 0x72, 0xa1, 1, 'x'},
		"bad map": {0x00, 0x53, 0x72, 0xc1, 2, 1, 0x40},
	} {
		secs, err := SplitSections(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = ReadAnnotations(secs)
		wantDecodeErr(t, err, name)
	}
	// A null annotations section is the same as none.
	secs, _ = SplitSections([]byte{0x00, 0x53, 0x72, 0x40})
	if ann, err := ReadAnnotations(secs); ann != nil || err != nil {
		t.Errorf("null annotations: %#v, %v", ann, err)
	}
}

func TestSplitSectionsErrors(t *testing.T) {
	data := []byte{0x00, 0x53, 0x75, 0xa0, 0x01, 'x'}
	props := []byte{0x00, 0x53, 0x73, 0x45}
	header := []byte{0x00, 0x53, 0x70, 0x45}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, c := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"empty", nil, "empty message"},
		{"not described", []byte{0xa0, 0x01, 'x'}, "not described"},
		{"unknown section code", []byte{0x00, 0x53, 0x79, 0x40}, "unknown message section"},
		{"performative code", []byte{0x00, 0x53, 0x14, 0x45}, "unknown message section"},
		{"unknown symbolic section", []byte{0x00, 0xa3, 0x01, 'x', 0x40}, "unknown message section"},
		{"list descriptor", []byte{0x00, 0x45, 0x40}, "unknown message section"},
		{"described descriptor", []byte{0x00, 0x00, 0x53, 0x75, 0x40, 0x40}, "unknown message section"},
		{"header after properties", cat(props, header), "out of order"},
		{"properties after data", cat(data, props), "out of order"},
		{"section without a body", []byte{0x00, 0x53, 0x75}, ""},
		{"section body past the end", []byte{0x00, 0x53, 0x75, 0xa0, 0x05, 'x'}, "exceeds"},
		{"unknown type in the body", []byte{0x00, 0x53, 0x75, 0x01}, "unknown type code"},
		{"garbage after a section", cat(data, []byte{0x40}), "not described"},
		{"truncated descriptor", []byte{0x00, 0x80, 0, 0}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			secs, err := SplitSections(c.b)
			if err == nil {
				t.Fatalf("split into %d sections", len(secs))
			}
			wantDecodeErr(t, err, c.name)
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			if _, err := DecodeMessage(c.b); err == nil {
				t.Errorf("DecodeMessage accepted it")
			}
		})
	}
	// Symbolic section descriptors split like numeric ones.
	b := cat([]byte{0x00, 0xa3, 16}, []byte("amqp:data:binary"), []byte{0xa0, 0x01, 'x'})
	secs, err := SplitSections(b)
	if err != nil || len(secs) != 1 || secs[0].Code != SectionData || !bytes.Equal(secs[0].Body, []byte{0xa0, 0x01, 'x'}) {
		t.Errorf("symbolic data section: %#v, %v", secs, err)
	}
	// Data sections may repeat; a header may follow another.
	if codes := sectionCodes(t, cat(header, header, data, data)); len(codes) != 4 {
		t.Errorf("sections %x", codes)
	}
	// Every strict prefix of a real message fails to split, or splits into
	// fewer sections.
	full := goMarshal(t, fullGoMessage(true))
	n := len(sectionCodes(t, full))
	for i := 0; i < len(full); i++ {
		if secs, err := SplitSections(full[:i]); err == nil && len(secs) >= n {
			t.Fatalf("the %d-byte prefix split into %d sections", i, len(secs))
		} else if err != nil {
			wantDecodeErr(t, err, "prefix")
		}
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"properties holding a map", []byte{0x00, 0x53, 0x73, 0xc1, 1, 0}, "properties section"},
		{"properties to of type uint", []byte{0x00, 0x53, 0x73, 0xc0, 4, 3, 0x40, 0x40, 0x43}, "properties field 2"},
		{"properties content-type binary", []byte{0x00, 0x53, 0x73, 0xc0, 9, 7, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0xa0, 0}, "properties field 6"},
		{"properties reply-to a symbol not UTF-8", []byte{0x00, 0x53, 0x73, 0xc0, 8, 5, 0x40, 0x40, 0x40, 0x40, 0xa3, 1, 0xff}, "properties field 4"},
		{"application-properties holding a list", []byte{0x00, 0x53, 0x74, 0x45}, "application-properties"},
		{"data holding a string", []byte{0x00, 0x53, 0x75, 0xa1, 1, 'x'}, "data section"},
		{"invalid value", []byte{0x00, 0x53, 0x77, 0xa1, 1, 0xff}, "UTF-8"},
		{"bad map in annotations", []byte{0x00, 0x53, 0x72, 0xc1, 2, 1, 0x40}, "odd"},
		{"bad header contents", []byte{0x00, 0x53, 0x70, 0xc0, 2, 5, 0x40}, "elements in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := SplitSections(c.b); err != nil {
				t.Fatalf("does not even split: %v", err)
			}
			m, err := DecodeMessage(c.b)
			if err == nil {
				t.Fatalf("decoded %#v", m)
			}
			wantDecodeErr(t, err, c.name)
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
		})
	}
	// Sections the emulator does not read are decoded for validity only.
	m := decodeMessage(t, []byte{0x00, 0x53, 0x70, 0xc0, 2, 1, 0x41, 0x00, 0x53, 0x78, 0xc1, 1, 0})
	if m.Annotations != nil || m.Properties != nil || m.HasValue {
		t.Errorf("header and footer leaked into %#v", m)
	}
	// A null value is a value.
	m = decodeMessage(t, []byte{0x00, 0x53, 0x77, 0x40})
	if !m.HasValue || m.Value != nil {
		t.Errorf("null value: %#v", m)
	}
}

func TestDataSize(t *testing.T) {
	big := bytes.Repeat([]byte{'b'}, 300) // a vbin32
	for _, c := range []struct {
		name string
		msg  *goamqp.Message
		want int
	}{
		{"every section, two data sections", fullGoMessage(true), len("one") + len("two")},
		{"a body over 255 bytes", &goamqp.Message{Annotations: goamqp.Annotations{"x-opt-partition-key": "k"}, Data: [][]byte{big}}, 300},
		{"an empty body", goamqp.NewMessage([]byte{}), 0},
		{"no data section", &goamqp.Message{ApplicationProperties: map[string]any{"a": "b"}, Value: int64(3)}, 0},
		{"an event as the SDKs send it", nil, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			if c.msg == nil {
				b = benchEvent(t)
			} else {
				b = goMarshal(t, c.msg)
			}
			n, err := DataSize(b)
			if err != nil || n != c.want {
				t.Fatalf("DataSize: %d, %v; want %d", n, err, c.want)
			}
			secs, err := SplitSections(b)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for _, s := range secs {
				sum += s.DataLen()
			}
			if sum != c.want {
				t.Fatalf("DataLen over the sections: %d, want %d", sum, c.want)
			}
		})
	}
	// A symbolic descriptor is read too.
	sym := []byte{0x00, 0xa3, byte(len("amqp:data:binary"))}
	sym = append(sym, "amqp:data:binary"...)
	sym = append(sym, 0xa0, 0x01, 'x')
	if n, err := DataSize(sym); err != nil || n != 1 {
		t.Errorf("symbolic data section: %d, %v; want 1", n, err)
	}
	for _, bad := range [][]byte{{0x40}, {0x00, 0x53}, {0x00, 0x53, 0x75, 0xa0, 0x09, 'x'}, {0x00, 0x53, 0x01, 0x40}} {
		if n, err := DataSize(bad); err == nil {
			t.Errorf("DataSize(% x) = %d, want an error", bad, n)
		}
	}
}
