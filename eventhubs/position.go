package eventhubs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PositionKind says what an EventPosition is anchored to.
type PositionKind int

const (
	// PositionStartOfStream: the first event the partition still holds.
	PositionStartOfStream PositionKind = iota
	// PositionEndOfStream: the next event to arrive after the position is resolved.
	PositionEndOfStream
	// PositionSequenceNumber: an event's sequence number.
	PositionSequenceNumber
	// PositionOffset: an event's offset, an opaque string from the service.
	PositionOffset
	// PositionEnqueuedTime: the first event enqueued after a time.
	PositionEnqueuedTime
)

// EventPosition is a position in an event hub partition: the start or end
// of the stream, a sequence number, an offset or an enqueued time. The zero
// value is the start of the stream.
//
// Its text form (String, MarshalText, and so JSON and flags) is one of
// "earliest", "latest", "seq:N", "seq:>N", "offset:S", "offset:>S",
// "time:RFC3339"; ">" marks an exclusive position (the event after).
type EventPosition struct {
	kind      PositionKind
	seqNo     int64
	offset    string
	time      time.Time
	inclusive bool
}

// FromSequenceNumber is the event with sequence number seq (inclusive), or
// the one after it (not inclusive).
func FromSequenceNumber(seq int64, inclusive bool) EventPosition {
	return EventPosition{kind: PositionSequenceNumber, seqNo: seq, inclusive: inclusive}
}

// FromOffset is the event at offset (inclusive), or the one after it.
// Offsets are opaque: take them from events or partition properties.
func FromOffset(offset string, inclusive bool) EventPosition {
	return EventPosition{kind: PositionOffset, offset: offset, inclusive: inclusive}
}

// FromEnqueuedTime is the first event enqueued after t.
func FromEnqueuedTime(t time.Time) EventPosition {
	return EventPosition{kind: PositionEnqueuedTime, time: t}
}

// StartOfStream is the first event the partition still holds.
func StartOfStream() EventPosition { return EventPosition{kind: PositionStartOfStream} }

// EndOfStream is the first event enqueued after the position is resolved.
func EndOfStream() EventPosition { return EventPosition{kind: PositionEndOfStream} }

// Kind says what the position is anchored to.
func (p EventPosition) Kind() PositionKind { return p.kind }

// SequenceNumber is the position's sequence number (Kind PositionSequenceNumber).
func (p EventPosition) SequenceNumber() int64 { return p.seqNo }

// Offset is the position's offset (Kind PositionOffset).
func (p EventPosition) Offset() string { return p.offset }

// EnqueuedTime is the position's time (Kind PositionEnqueuedTime).
func (p EventPosition) EnqueuedTime() time.Time { return p.time }

// Inclusive says whether a sequence number or offset position includes the
// event it names.
func (p EventPosition) Inclusive() bool { return p.inclusive }

// Validate reports a position that can never be resolved.
func (p EventPosition) Validate() error {
	switch p.kind {
	case PositionStartOfStream, PositionEndOfStream:
	case PositionSequenceNumber:
		if p.seqNo < 0 && !(p.seqNo == -1 && !p.inclusive) {
			return errorf(CodeInvalidConf, "position %s: a sequence number cannot be negative", p)
		}
	case PositionOffset:
		if p.offset == "" || strings.TrimSpace(p.offset) != p.offset {
			return errorf(CodeInvalidConf, "position %s: the offset is empty or has surrounding spaces", p)
		}
	case PositionEnqueuedTime:
		if p.time.IsZero() {
			return errorf(CodeInvalidConf, "position %s: the enqueued time is not set", p)
		}
		// Years outside 1..9999 in UTC have no RFC 3339 form, so such a
		// position could not be written to a conf or checkpoint.
		if y := p.time.UTC().Year(); y < 1 || y > 9999 {
			return errorf(CodeInvalidConf, "position %s: the enqueued time is outside the years 1 to 9999 (UTC)", p)
		}
	default:
		return errorf(CodeInvalidConf, "position of unknown kind %d", p.kind)
	}
	return nil
}

// String is the position's text form, e.g. "seq:400" or "offset:>1024".
func (p EventPosition) String() string {
	excl := ">"
	if p.inclusive {
		excl = ""
	}
	switch p.kind {
	case PositionStartOfStream:
		return "earliest"
	case PositionEndOfStream:
		return "latest"
	case PositionSequenceNumber:
		return "seq:" + excl + strconv.FormatInt(p.seqNo, 10)
	case PositionOffset:
		return "offset:" + excl + p.offset
	case PositionEnqueuedTime:
		return "time:" + p.time.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("EventPosition(%d)", int(p.kind))
}

// ParseEventPosition reads the text form that String writes. "start" and
// "end" are accepted for "earliest" and "latest", and a time relative to
// now, a negative Go duration alone or after "time:" ("-10m",
// "time:-1h30m"), for the enqueued time that long before the call: the
// position holds that time, so resolving it later does not move it.
func ParseEventPosition(s string) (EventPosition, error) {
	bad := func(why string) (EventPosition, error) {
		return EventPosition{}, errorf(CodeInvalidConf, "position %q: %s (want earliest, latest, seq:N, seq:>N, offset:S, offset:>S, time:RFC3339 or -DURATION, "+
			"enqueued since that long ago, e.g. -10m)", s, why)
	}
	switch strings.ToLower(s) {
	case "earliest", "start":
		return StartOfStream(), nil
	case "latest", "end":
		return EndOfStream(), nil
	}
	if p, ok, err := parseRelativeTime(s); ok || err != nil {
		if err != nil {
			return bad(err.Error())
		}
		return p, nil
	}
	kind, v, ok := strings.Cut(s, ":")
	if !ok {
		return bad("unknown position")
	}
	inclusive := !strings.HasPrefix(v, ">")
	v = strings.TrimPrefix(v, ">")
	var p EventPosition
	switch strings.ToLower(kind) {
	case "seq":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad("the sequence number is not an integer")
		}
		p = FromSequenceNumber(n, inclusive)
	case "offset":
		p = FromOffset(v, inclusive)
	case "time":
		if !inclusive {
			return bad("an enqueued time is always exclusive; drop the '>'")
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return bad("the time is not RFC 3339, e.g. 2026-11-25T10:00:00Z")
		}
		p = FromEnqueuedTime(t)
	default:
		return bad("unknown kind " + strconv.Quote(kind))
	}
	if err := p.Validate(); err != nil {
		return bad(messageOf(err))
	}
	return p, nil
}

// parseRelativeTime reads a time relative to now, "-10m" or "time:-10m",
// as the enqueued time that long ago; ok is false for text of another
// form. A duration that is not negative ("10m") is an error that says how
// to write it.
func parseRelativeTime(s string) (p EventPosition, ok bool, err error) {
	prefix, v := "", s
	if rest, found := strings.CutPrefix(strings.ToLower(s), "time:"); found {
		prefix, v = s[:len("time:")], rest
	}
	d, perr := time.ParseDuration(v)
	switch {
	case perr != nil:
		return EventPosition{}, false, nil
	case d > 0 || (d == 0 && !strings.HasPrefix(v, "-")):
		return EventPosition{}, false, fmt.Errorf("a time relative to now is before it: %s-%s", prefix, strings.TrimPrefix(v, "+"))
	}
	return FromEnqueuedTime(time.Now().Add(d)), true, nil
}

// MarshalText writes the text form; JSON gets it as a string.
func (p EventPosition) MarshalText() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads the text form.
func (p *EventPosition) UnmarshalText(b []byte) error {
	q, err := ParseEventPosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// Equal reports whether two positions name the same place (times compared
// as instants).
func (p EventPosition) Equal(q EventPosition) bool {
	return p.kind == q.kind && p.seqNo == q.seqNo && p.offset == q.offset &&
		p.time.Equal(q.time) && p.inclusive == q.inclusive
}
