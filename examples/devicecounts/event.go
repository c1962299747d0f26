package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// reading is what the pipeline takes from an event: its device and the
// time it happened.
type reading struct {
	Device string
	Time   time.Time
	// Bad says why the event has no readable time; "" when it has one.
	Bad string
}

// unknownDevice is the device of an event that names none.
const unknownDevice = "(unknown)"

// readingOf reads an event's body: a JSON object with "device" and
// "time", the time in RFC 3339 or Unix milliseconds.
func readingOf(e *eventhubs.Event) reading {
	var body struct {
		Device string          `json:"device"`
		Time   json.RawMessage `json:"time"`
	}
	if err := json.Unmarshal(e.Body, &body); err != nil {
		return reading{Device: unknownDevice, Bad: "not a JSON object"}
	}
	r := reading{Device: body.Device}
	if r.Device == "" {
		r.Device = unknownDevice
	}
	r.Time, r.Bad = eventTime(body.Time)
	return r
}

// eventTime reads a "time" field: an RFC 3339 string or a number of
// Unix milliseconds; else it says what is wrong.
func eventTime(raw json.RawMessage) (time.Time, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, "no time"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Sprintf("time %q is not RFC 3339", s)
		}
		return t.UTC(), ""
	}
	var ms json.Number
	if json.Unmarshal(raw, &ms) == nil {
		if n, err := ms.Int64(); err == nil {
			return time.UnixMilli(n).UTC(), ""
		}
	}
	return time.Time{}, fmt.Sprintf("time %s is neither RFC 3339 nor Unix milliseconds", raw)
}

// minuteOf is the start of t's clock minute, as the table keys it.
func minuteOf(t time.Time) string {
	return t.UTC().Truncate(time.Minute).Format(time.RFC3339)
}
