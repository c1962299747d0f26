package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/hamba/avro/v2/ocf"

	"github.com/ehstream/ehstream/eventhubs"
)

// documentedSchema is the schema of Capture's files as the Event Hubs
// documentation prints it ("Exploring captured files"), laid out as
// there.
const documentedSchema = `{

    "type":"record",
    "name":"EventData",
    "namespace":"Microsoft.ServiceBus.Messaging",
    "fields":[
                 {"name":"SequenceNumber","type":"long"},
                 {"name":"Offset","type":"string"},
                 {"name":"EnqueuedTimeUtc","type":"string"},
                 {"name":"SystemProperties","type":{"type":"map","values":["long","double","string","bytes"]}},
                 {"name":"Properties","type":{"type":"map","values":["long","double","string","bytes"]}},
                 {"name":"Body","type":["null","bytes"]}
             ]
}`

// The schema a file carries is the documented one, key by key and field
// by field, namespace included.
func TestAvroSchemaIsCaptures(t *testing.T) {
	var want, got any
	if err := json.Unmarshal([]byte(documentedSchema), &want); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	writeAvro(t, &buf, nil, sampleEvent(0))
	dec, err := ocf.NewDecoder(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dec.Metadata()["avro.schema"], &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schema in the file:\n%s\nwant Capture's:\n%s", dec.Metadata()["avro.schema"], documentedSchema)
	}
	if c := string(dec.Metadata()["avro.codec"]); c != "deflate" {
		t.Fatalf("codec %q, want deflate by default", c)
	}
}

// Each field reads back as Capture writes it: the time in .NET's
// invariant form, properties in the map union, what the union cannot
// hold as documented on captureValue.
func TestAvroRecordFields(t *testing.T) {
	var buf bytes.Buffer
	ev := sampleEvent(7)
	writeAvro(t, &buf, &AvroOptions{Codec: "null"}, ev, sampleEvent(8))
	recs := readAvro(t, buf.Bytes())
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	r := recs[0]
	if r.SequenceNumber != 7 || r.Offset != "4096" || r.EnqueuedTimeUtc != "12/7/2026 3:04:05 PM" || string(*r.Body) != "body-7" {
		t.Fatalf("record %+v", r)
	}
	wantProps := map[string]any{"s": "x", "i": int64(-3), "u8": int64(200), "big": "18446744073709551615", "f": 1.5,
		"b": "true", "bin": []byte{0, 1}, "t": int64(1796655845123), "sym": "sym", "uuid": "01020304-0506-0708-090a-0b0c0d0e0f10"}
	if !reflect.DeepEqual(r.Properties, wantProps) {
		t.Fatalf("properties %#v\nwant %#v", r.Properties, wantProps)
	}
	wantSys := map[string]any{"x-opt-enqueued-time": int64(1796655845123), "x-opt-partition-key": "pk", "x-opt-publisher": "pub"}
	if !reflect.DeepEqual(r.SystemProperties, wantSys) {
		t.Fatalf("system properties %#v, want %#v", r.SystemProperties, wantSys)
	}
	if got := recs[1]; got.SequenceNumber != 8 || len(*got.Body) != 0 {
		t.Fatalf("an empty body reads back as %v, want empty bytes", got.Body)
	}
}

// Size is never less than the bytes written, comes within 10% of the
// file's size before Close, and equals it after.
func TestAvroSize(t *testing.T) {
	var buf bytes.Buffer
	f, _ := Avro(&AvroOptions{BlockSize: 4096})
	w, err := f.NewFileWriter(&buf, FileInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := w.Write(sampleEvent(int64(i))); err != nil {
			t.Fatal(err)
		}
		if s := w.Size(); s < int64(buf.Len()) {
			t.Fatalf("after event %d Size() = %d < %d written", i, s, buf.Len())
		}
	}
	before := w.Size()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if after := int64(buf.Len()); before < after*9/10 || before > after*11/10 {
		t.Fatalf("Size() before Close = %d, the file has %d bytes", before, after)
	}
	if w.Size() != int64(buf.Len()) || len(readAvro(t, buf.Bytes())) != 1000 {
		t.Fatalf("after Close Size() = %d, file %d bytes", w.Size(), buf.Len())
	}
}

func TestAvroRefusesBadOptions(t *testing.T) {
	for _, o := range []AvroOptions{{Codec: "snappy"}, {BlockSize: -1}, {DeflateLevel: -1}, {DeflateLevel: 10}} {
		_, err := Avro(&o)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Code != CodeInvalidOptions || !strings.Contains(err.Error(), "use") && !strings.Contains(err.Error(), "give") {
			t.Errorf("Avro(%+v) = %v, want an invalid-options error with the cure", o, err)
		}
	}
}

// TestAvroDeflateLevel writes the same events (with no properties, so
// that no map's order varies) at deflate's levels 1 and 9 and by
// default: level 9's file is smaller than level 1's, and the default's is
// DefaultDeflateLevel's to the byte.
func TestAvroDeflateLevel(t *testing.T) {
	evs := benchHexEvents(20_000)
	size := func(level int) int {
		f, err := Avro(&AvroOptions{DeflateLevel: level})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		writeFile(t, f, &buf, evs...)
		return buf.Len()
	}
	fastest, smallest, byDefault, atDefault := size(1), size(9), size(0), size(DefaultDeflateLevel)
	if smallest >= fastest || byDefault != atDefault {
		t.Errorf("bytes at level 1 %d, 9 %d, by default %d, at DefaultDeflateLevel (%d) %d: want 9 < 1 and the default's equal to DefaultDeflateLevel's",
			fastest, smallest, byDefault, DefaultDeflateLevel, atDefault)
	}
}

// testUUID is a UUID property, as AMQP types it.
var testUUID = amqp.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// sampleEvent is an event as the SDK gives it, with properties of every
// kind AMQP has.
func sampleEvent(seq int64) *eventhubs.Event {
	at := time.Date(2026, 12, 7, 15, 4, 5, 123e6, time.UTC)
	ev := &eventhubs.Event{
		Body: []byte("body-" + string(rune('0'+seq%10))), PartitionID: "3", SequenceNumber: seq, Offset: "4096",
		EnqueuedTime: at, PartitionKey: "pk",
		Properties: map[string]any{"s": "x", "i": int32(-3), "u8": uint8(200), "big": uint64(1<<64 - 1), "f": 1.5,
			"b": true, "bin": []byte{0, 1}, "t": at, "sym": amqp.Symbol("sym"), "nil": nil,
			"uuid": testUUID},
		SystemProperties: map[string]any{"x-opt-publisher": "pub"},
	}
	if seq == 8 {
		ev.Body = nil
	}
	return ev
}

func writeAvro(t testing.TB, buf *bytes.Buffer, opts *AvroOptions, evs ...*eventhubs.Event) {
	t.Helper()
	f, err := Avro(opts)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, buf, evs...)
}

func readAvro(t *testing.T, b []byte) []captureRecord {
	t.Helper()
	dec, err := ocf.NewDecoder(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []captureRecord
	for dec.HasNext() {
		var r captureRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := dec.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}
