package eventjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

func TestAppend(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	cases := []struct {
		name string
		ev   eventhubs.Event
		want string
	}{
		{"text", eventhubs.Event{PartitionID: "1", SequenceNumber: 7, Offset: "42", EnqueuedTime: at, Body: []byte("héllo"),
			PartitionKey: "dev-1", ContentType: "text/plain", MessageID: "m1", Properties: map[string]any{"n": int64(3)}},
			`{"partition":"1","sequenceNumber":7,"offset":"42","enqueuedTime":"2026-01-02T02:04:05.0000006Z","partitionKey":"dev-1",` +
				`"contentType":"text/plain","messageId":"m1","properties":{"n":3},"body":"héllo"}`},
		{"binary, no key, no properties", eventhubs.Event{PartitionID: "0", EnqueuedTime: at, Body: []byte{0xff, 0, 0xfe}},
			`{"partition":"0","sequenceNumber":0,"offset":"","enqueuedTime":"2026-01-02T02:04:05.0000006Z","partitionKey":null,` +
				`"properties":{},"body":"/wD+","bodyEncoding":"base64"}`},
		{"a property JSON cannot hold", eventhubs.Event{PartitionID: "0", EnqueuedTime: at, Body: []byte("x"),
			Properties: map[string]any{"m": map[any]any{1: "x"}, "s": "y"}},
			`{"partition":"0","sequenceNumber":0,"offset":"","enqueuedTime":"2026-01-02T02:04:05.0000006Z","partitionKey":null,` +
				`"properties":{"m":"map[1:x]","s":"y"},"body":"x"}`},
	}
	for _, c := range cases {
		got, err := Append([]byte("before\n"), &c.ev, nil)
		if err != nil || string(got) != "before\n"+c.want+"\n" {
			t.Errorf("%s: Append = %s, %v\nwant %s", c.name, got, err, c.want)
		}
	}
}

func TestDecode(t *testing.T) {
	ev, key, err := Decode([]byte(`{"body":{"t": 21.5},"properties":{"unit":"C","n":3,"r":0.5,"ok":true},"partitionKey":"dev-1","contentType":"application/json","messageId":"m1"}`))
	if err != nil {
		t.Fatal(err)
	}
	p := ev.Properties
	if string(ev.Body) != `{"t":21.5}` || key != "dev-1" || *ev.ContentType != "application/json" || *ev.MessageID != "m1" ||
		p["unit"] != "C" || p["n"] != int64(3) || p["r"] != 0.5 || p["ok"] != true {
		t.Errorf("Decode = body %s, key %q, %+v", ev.Body, key, ev)
	}
	ev, key, err = Decode([]byte(`{"body":"plain \"text\""}`))
	if err != nil || string(ev.Body) != `plain "text"` || key != "" || ev.Properties == nil || ev.ContentType != nil || ev.MessageID != nil {
		t.Errorf("Decode of a string body = %+v, %q, %v", ev, key, err)
	}
	for line, says := range map[string]string{
		`{"bdy":"b"}`:               "not a JSON event",
		`not json`:                  "not a JSON event",
		`{"body":"a"} {"body":"b"}`: "more than one JSON value",
		`{"properties":{}}`:         `no "body"`,
		`{"body":null}`:             `no "body"`,
		`{"body":"a","properties":{"x":{"y":1}}}`: `property "x": objects and arrays are not allowed`,
		`{"body":"a","properties":{"x":null}}`:    `property "x": null is not allowed`,
		`{"body":"a","properties":{"x":1e999}}`:   `property "x": 1e999 is not a number AMQP can carry`,
	} {
		if _, _, err := Decode([]byte(line)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("Decode(%s) = %v, want an error saying %q", line, err, says)
		}
	}
}

// A sent event's line reads back with its body, key and properties.
func TestDecodeThenAppend(t *testing.T) {
	sent, key, err := Decode([]byte(`{"body":[1, 2],"properties":{"n":3},"partitionKey":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Append(nil, &eventhubs.Event{Body: sent.Body, Properties: sent.Properties, PartitionKey: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != `"[1,2]"` || got.PartitionKey == nil || *got.PartitionKey != "k" || got.Properties["n"] != float64(3) || got.BodyEncoding != "" {
		t.Errorf("the line read back as %+v", got)
	}
}

// Each body format writes the bodies its way; a body BodyAuto wrote
// sends (Decode) the body it read, but for the spaces of its JSON.
func TestAppendBodyFormats(t *testing.T) {
	bodies := [][]byte{[]byte(`{"t": 21.5}`), []byte(" [1,2]"), []byte("hello"), []byte(`"quoted"`), []byte("42"), {0xff, 0, 0xfe}}
	want := map[BodyFormat][]string{
		BodyText:   {`"{\"t\": 21.5}"`, `" [1,2]"`, `"hello"`, `"\"quoted\""`, `"42"`, `"/wD+" base64`},
		BodyAuto:   {`{"t":21.5}`, `[1,2]`, `"hello"`, `"\"quoted\""`, `"42"`, `"/wD+" base64`},
		BodyBase64: {`"eyJ0IjogMjEuNX0=" base64`, `"IFsxLDJd" base64`, `"aGVsbG8=" base64`, `"InF1b3RlZCI=" base64`, `"NDI=" base64`, `"/wD+" base64`},
		BodyJSON:   {`{"t":21.5}`, `[1,2]`, "", `"quoted"`, `42`, ""},
	}
	for format, lines := range want {
		for i, body := range bodies {
			b, err := Append(nil, &eventhubs.Event{Body: body}, &AppendOptions{Body: format})
			if lines[i] == "" {
				if !errors.Is(err, ErrBodyNotJSON) {
					t.Errorf("%s: body %q: %v, want ErrBodyNotJSON", format, body, err)
				}
				continue
			}
			var got Event
			if err != nil || json.Unmarshal(b, &got) != nil {
				t.Fatalf("%s: body %q: %s, %v", format, body, b, err)
			}
			if s := strings.TrimSpace(string(got.Body) + " " + got.BodyEncoding); s != lines[i] {
				t.Errorf("%s: body %q written as %s, want %s", format, body, s, lines[i])
			}
			if format != BodyAuto || got.BodyEncoding != "" {
				continue
			}
			sent, _, err := Decode([]byte(`{"body":` + string(got.Body) + `}`))
			var c bytes.Buffer
			if json.Compact(&c, body) != nil {
				c.Reset()
				c.Write(body)
			}
			if err != nil || !bytes.Equal(sent.Body, c.Bytes()) {
				t.Errorf("auto: body %q sends back as %q (%v)", body, sent.Body, err)
			}
		}
	}
	for _, s := range []string{"auto", "text", "json", "base64"} {
		if f, err := ParseBodyFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseBodyFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseBodyFormat("yaml"); err == nil || !strings.Contains(err.Error(), `"yaml"`) || !strings.Contains(err.Error(), "auto, text, json or base64") {
		t.Errorf("ParseBodyFormat(yaml) = %v", err)
	}
}

// HubOf gives a partition with events its first and last sequence numbers,
// last offset and time, and an empty one nulls and its next number; times
// are in UTC.
func TestHubOf(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	hp := &eventhubs.HubProperties{Name: "orders", CreatedOn: at, PartitionIDs: []string{"0", "1"}, Partitions: []eventhubs.PartitionBounds{
		{PartitionID: "0", First: 3, End: 10, LastOffset: "900", LastEnqueued: at}, {PartitionID: "1", First: 4, End: 4}}}
	got, err := json.Marshal(HubOf(hp))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"orders","createdOn":"2026-01-02T02:04:05Z","partitions":[` +
		`{"id":"0","empty":false,"firstSequenceNumber":3,"lastSequenceNumber":9,"nextSequenceNumber":10,"lastOffset":"900","lastEnqueuedTime":"2026-01-02T03:04:05+01:00"},` +
		`{"id":"1","empty":true,"firstSequenceNumber":null,"lastSequenceNumber":null,"nextSequenceNumber":4}]}`
	if string(got) != want {
		t.Errorf("HubOf = %s\nwant   %s", got, want)
	}
}
