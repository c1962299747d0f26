package eventhubs

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var utTime = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)

func TestEventPositionConstructors(t *testing.T) {
	local := time.Date(2026, 11, 25, 11, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name      string
		p         EventPosition
		kind      PositionKind
		seq       int64
		offset    string
		time      time.Time
		inclusive bool
		text      string
	}{
		{"start", StartOfStream(), PositionStartOfStream, 0, "", time.Time{}, false, "earliest"},
		{"zero value", EventPosition{}, PositionStartOfStream, 0, "", time.Time{}, false, "earliest"},
		{"end", EndOfStream(), PositionEndOfStream, 0, "", time.Time{}, false, "latest"},
		{"seq inclusive", FromSequenceNumber(5, true), PositionSequenceNumber, 5, "", time.Time{}, true, "seq:5"},
		{"seq exclusive", FromSequenceNumber(5, false), PositionSequenceNumber, 5, "", time.Time{}, false, "seq:>5"},
		{"seq 0", FromSequenceNumber(0, true), PositionSequenceNumber, 0, "", time.Time{}, true, "seq:0"},
		{"seq after -1", FromSequenceNumber(-1, false), PositionSequenceNumber, -1, "", time.Time{}, false, "seq:>-1"},
		{"seq big", FromSequenceNumber(1<<62, true), PositionSequenceNumber, 1 << 62, "", time.Time{}, true, "seq:4611686018427387904"},
		{"offset inclusive", FromOffset("100", true), PositionOffset, 0, "100", time.Time{}, true, "offset:100"},
		{"offset exclusive", FromOffset("100", false), PositionOffset, 0, "100", time.Time{}, false, "offset:>100"},
		{"offset opaque", FromOffset("a-b.c", true), PositionOffset, 0, "a-b.c", time.Time{}, true, "offset:a-b.c"},
		{"time", FromEnqueuedTime(utTime), PositionEnqueuedTime, 0, "", utTime, false, "time:2026-11-25T10:00:00.123456789Z"},
		{"time in a zone", FromEnqueuedTime(local), PositionEnqueuedTime, 0, "", local, false, "time:2026-11-25T10:00:00.123456789Z"},
		{"time whole seconds", FromEnqueuedTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), PositionEnqueuedTime, 0, "",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false, "time:2026-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			if p.Kind() != tt.kind {
				t.Errorf("Kind() = %d, want %d", p.Kind(), tt.kind)
			}
			if p.SequenceNumber() != tt.seq {
				t.Errorf("SequenceNumber() = %d, want %d", p.SequenceNumber(), tt.seq)
			}
			if p.Offset() != tt.offset {
				t.Errorf("Offset() = %q, want %q", p.Offset(), tt.offset)
			}
			if !p.EnqueuedTime().Equal(tt.time) {
				t.Errorf("EnqueuedTime() = %s, want %s", p.EnqueuedTime(), tt.time)
			}
			if p.Inclusive() != tt.inclusive {
				t.Errorf("Inclusive() = %v, want %v", p.Inclusive(), tt.inclusive)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if got := p.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			if got := fmt.Sprint(p); got != tt.text {
				t.Errorf("fmt.Sprint = %q, want %q", got, tt.text)
			}
			b, err := p.MarshalText()
			if err != nil || string(b) != tt.text {
				t.Errorf("MarshalText() = %q, %v; want %q", b, err, tt.text)
			}

			// Round trip through the text form.
			back, err := ParseEventPosition(tt.text)
			if err != nil {
				t.Fatalf("ParseEventPosition(%q): %v", tt.text, err)
			}
			if !back.Equal(p) || !p.Equal(back) {
				t.Errorf("ParseEventPosition(%q) = %v, not Equal to %v", tt.text, back, p)
			}
			var u EventPosition
			if err := u.UnmarshalText([]byte(tt.text)); err != nil || !u.Equal(p) {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", tt.text, u, err, p)
			}
		})
	}
}

func TestEventPositionEqual(t *testing.T) {
	ps := []EventPosition{
		StartOfStream(), EndOfStream(),
		FromSequenceNumber(5, true), FromSequenceNumber(5, false), FromSequenceNumber(6, true),
		FromOffset("5", true), FromOffset("5", false), FromOffset("6", true),
		FromEnqueuedTime(utTime), FromEnqueuedTime(utTime.Add(time.Nanosecond)),
	}
	for i, p := range ps {
		for j, q := range ps {
			if got := p.Equal(q); got != (i == j) {
				t.Errorf("%v.Equal(%v) = %v, want %v", p, q, got, i == j)
			}
		}
	}
	if !FromEnqueuedTime(utTime).Equal(FromEnqueuedTime(utTime.In(time.FixedZone("X", -7*3600)))) {
		t.Errorf("the same instant in two zones is not Equal")
	}
	if !(EventPosition{}).Equal(StartOfStream()) {
		t.Errorf("the zero value is not Equal to StartOfStream()")
	}
}

func TestParseEventPosition(t *testing.T) {
	tests := []struct {
		in   string
		want EventPosition
	}{
		{"earliest", StartOfStream()},
		{"EARLIEST", StartOfStream()},
		{"start", StartOfStream()},
		{"latest", EndOfStream()},
		{"Latest", EndOfStream()},
		{"end", EndOfStream()},
		{"seq:5", FromSequenceNumber(5, true)},
		{"SEQ:5", FromSequenceNumber(5, true)},
		{"seq:>5", FromSequenceNumber(5, false)},
		{"seq:0", FromSequenceNumber(0, true)},
		{"seq:>-1", FromSequenceNumber(-1, false)},
		{"offset:100", FromOffset("100", true)},
		{"offset:>100", FromOffset("100", false)},
		{"offset:-1", FromOffset("-1", true)},
		{"time:2026-11-25T10:00:00.123456789Z", FromEnqueuedTime(utTime)},
		{"time:2026-11-25T11:00:00.123456789+01:00", FromEnqueuedTime(utTime)},
	}
	for _, tt := range tests {
		got, err := ParseEventPosition(tt.in)
		if err != nil {
			t.Errorf("ParseEventPosition(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("ParseEventPosition(%q) = %v, want %v", tt.in, got, tt.want)
		}
		again, err := ParseEventPosition(got.String())
		if err != nil || !again.Equal(got) {
			t.Errorf("ParseEventPosition(%q) = %v, %v; want %v", got.String(), again, err, got)
		}
	}
}

func TestParseEventPositionErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // besides the quoted text
	}{
		{"", "unknown position"},
		{"seq:abc", "not an integer"},
		{"seq:", "not an integer"},
		{"seq:>", "not an integer"},
		{"seq:1.5", "not an integer"},
		{"seq:99999999999999999999", "not an integer"},
		{"seq:-5", "negative"},
		{"seq:-1", "negative"},
		{"seq:>-2", "negative"},
		{"time:yesterday", "RFC 3339"},
		{"time:", "RFC 3339"},
		{"time:2026-01-01", "RFC 3339"},
		{"time:>2026-01-01T00:00:00Z", "'>'"},
		{"time:0001-01-01T00:00:00Z", "not set"},
		{"offset:", "empty"},
		{"offset:>", "empty"},
		{"offset: 5", "spaces"},
		{"bogus:1", `unknown kind "bogus"`},
		{"earliest ", "unknown position"},
		{"5", "unknown position"},
		{"first", "unknown position"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseEventPosition(tt.in)
			e := utAsError(t, err, CodeInvalidConf)
			if !p.Equal(EventPosition{}) {
				t.Errorf("got %v along with the error, want the zero value", p)
			}
			if q := fmt.Sprintf("%q", tt.in); !strings.Contains(e.Message, q) {
				t.Errorf("message %q does not name the text %s", e.Message, q)
			}
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("message %q does not contain %q", e.Message, tt.want)
			}
			// The message tells what would be right.
			if !strings.Contains(e.Message, "seq:N") {
				t.Errorf("message %q does not list the accepted forms", e.Message)
			}
			var u EventPosition
			if err := u.UnmarshalText([]byte(tt.in)); !HasCode(err, CodeInvalidConf) {
				t.Errorf("UnmarshalText(%q) = %v, want a %s error", tt.in, err, CodeInvalidConf)
			}
		})
	}
}

func TestEventPositionValidate(t *testing.T) {
	bad := []struct {
		p    EventPosition
		want string
	}{
		{FromSequenceNumber(-5, true), "seq:-5"},
		{FromSequenceNumber(-1, true), "seq:-1"},
		{FromSequenceNumber(-2, false), "seq:>-2"},
		{FromOffset("", true), "offset:"},
		{FromOffset(" 5", false), "offset:> 5"},
		{FromEnqueuedTime(time.Time{}), "enqueued time"},
		{EventPosition{kind: PositionKind(42)}, "42"},
	}
	for _, tt := range bad {
		err := tt.p.Validate()
		e := utAsError(t, err, CodeInvalidConf)
		if !strings.Contains(e.Message, tt.want) {
			t.Errorf("Validate of %v: message %q does not contain %q", tt.p, e.Message, tt.want)
		}
		if b, err := tt.p.MarshalText(); err == nil {
			t.Errorf("MarshalText of invalid %v = %q, want an error", tt.p, b)
		}
	}
	if got := (EventPosition{kind: PositionKind(42)}).String(); got != "EventPosition(42)" {
		t.Errorf("String of an unknown kind = %q", got)
	}
}

func TestEventPositionJSON(t *testing.T) {
	type holder struct {
		Start EventPosition            `json:"start"`
		Per   map[string]EventPosition `json:"per"`
		Ptr   *EventPosition           `json:"ptr,omitempty"`
	}
	after := FromOffset("100", false)
	in := holder{
		Start: FromSequenceNumber(5, false),
		Per: map[string]EventPosition{
			"0": StartOfStream(),
			"1": EndOfStream(),
			"2": FromSequenceNumber(7, true),
			"3": FromSequenceNumber(7, false),
			"4": FromOffset("100", true),
			"5": FromOffset("100", false),
			"6": FromEnqueuedTime(utTime),
		},
		Ptr: &after,
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	const want = `{"start":"seq:>5","per":{"0":"earliest","1":"latest","2":"seq:7","3":"seq:>7","4":"offset:100","5":"offset:>100",` +
		`"6":"time:2026-11-25T10:00:00.123456789Z"},"ptr":"offset:>100"}`
	// encoding/json escapes '>' as \u003e (HTML safety); it reads back the same.
	if string(b) != strings.ReplaceAll(want, ">", `\u003e`) {
		t.Errorf("json.Marshal = %s\nwant          %s", b, want)
	}
	var out holder
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if !out.Start.Equal(in.Start) {
		t.Errorf("Start = %v, want %v", out.Start, in.Start)
	}
	if out.Ptr == nil || !out.Ptr.Equal(*in.Ptr) {
		t.Errorf("Ptr = %v, want %v", out.Ptr, *in.Ptr)
	}
	if len(out.Per) != len(in.Per) {
		t.Errorf("Per has %d entries, want %d", len(out.Per), len(in.Per))
	}
	for k, p := range in.Per {
		if q, ok := out.Per[k]; !ok || !q.Equal(p) {
			t.Errorf("Per[%s] = %v, want %v", k, q, p)
		}
	}

	// A bare map too.
	m := map[string]EventPosition{"a": FromSequenceNumber(1, false), "b": FromEnqueuedTime(utTime)}
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatalf("json.Marshal(map): %v", err)
	}
	var m2 map[string]EventPosition
	if err := json.Unmarshal(b, &m2); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", b, err)
	}
	if len(m2) != 2 || !m2["a"].Equal(m["a"]) || !m2["b"].Equal(m["b"]) {
		t.Errorf("map round trip through %s = %v, want %v", b, m2, m)
	}

	// The zero value marshals as the start of the stream.
	b, err = json.Marshal(holder{})
	if err != nil || !strings.Contains(string(b), `"start":"earliest"`) {
		t.Errorf("json.Marshal(holder{}) = %s, %v", b, err)
	}

	// Bad text is an error with the code.
	for _, s := range []string{`{"start":"seq:abc"}`, `{"per":{"0":"bogus:1"}}`, `{"start":"time:>2026-01-01T00:00:00Z"}`} {
		var h holder
		err := json.Unmarshal([]byte(s), &h)
		if !HasCode(err, CodeInvalidConf) {
			t.Errorf("json.Unmarshal(%s) = %v, want a %s error", s, err, CodeInvalidConf)
		}
	}
	// An invalid position does not marshal.
	if b, err := json.Marshal(holder{Start: FromSequenceNumber(-3, true)}); err == nil {
		t.Errorf("json.Marshal of an invalid position = %s, want an error", b)
	}
}

// A time relative to now, -10m or time:-10m (a Go duration, negative), is
// the enqueued time that long before the call; a positive one is refused,
// saying how to write it.
func TestParseRelativeEventPosition(t *testing.T) {
	for _, c := range []struct {
		in   string
		back time.Duration
	}{{"-10m", 10 * time.Minute}, {"time:-1h30m", 90 * time.Minute}, {"-1.5s", 1500 * time.Millisecond}} {
		before := time.Now()
		p, err := ParseEventPosition(c.in)
		after := time.Now()
		if err != nil {
			t.Errorf("ParseEventPosition(%q): %v", c.in, err)
			continue
		}
		if p.Kind() != PositionEnqueuedTime || p.EnqueuedTime().Before(before.Add(-c.back)) || p.EnqueuedTime().After(after.Add(-c.back)) {
			t.Errorf("ParseEventPosition(%q) = %v, want the enqueued time %s before the call (%s)", c.in, p, c.back, before.Add(-c.back))
		}
	}
	for _, c := range []struct{ in, says string }{
		{"10m", `position "10m": a time relative to now is before it: -10m`},
		{"time:10m", `a time relative to now is before it: time:-10m`},
		{"-10x", "unknown position"},
	} {
		_, err := ParseEventPosition(c.in)
		if e := utAsError(t, err, CodeInvalidConf); !strings.Contains(e.Message, c.says) || !strings.Contains(e.Message, "-DURATION") {
			t.Errorf("ParseEventPosition(%q): %q; want it to say %q and list -DURATION", c.in, e.Message, c.says)
		}
	}
}
