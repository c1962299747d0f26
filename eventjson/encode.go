package eventjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ehstream/ehstream/eventhubs"
)

// Event is the line of a read event.
type Event struct {
	Partition      string         `json:"partition"`
	SequenceNumber int64          `json:"sequenceNumber"`
	Offset         string         `json:"offset"`
	EnqueuedTime   string         `json:"enqueuedTime"` // RFC 3339, UTC
	PartitionKey   *string        `json:"partitionKey"` // null when the sender gave none
	ContentType    string         `json:"contentType,omitempty"`
	MessageID      string         `json:"messageId,omitempty"`
	Properties     map[string]any `json:"properties"`
	// Body is the body as JSON: a string of its text, or of its base64
	// when BodyEncoding says "base64", or the body itself when it is JSON
	// written as JSON (BodyJSON, BodyAuto).
	Body         json.RawMessage `json:"body"`
	BodyEncoding string          `json:"bodyEncoding,omitempty"` // "base64" for a body in base64
}

// BodyFormat is how Append writes an event's body.
type BodyFormat string

const (
	// BodyText writes a UTF-8 body as its text, a JSON string, and any
	// other in base64 (BodyEncoding "base64").
	BodyText BodyFormat = "text"
	// BodyAuto writes a body that is a JSON object or array as JSON
	// (compacted), and any other as BodyText does. JSON strings and other
	// single values stay text: written as JSON, the string "a" would read
	// back (Decode, `ehstream send --json`) as the body a, without its
	// quotes; a number's text is its JSON anyway.
	BodyAuto BodyFormat = "auto"
	// BodyJSON writes every body as JSON; a body that is not JSON is an
	// error.
	BodyJSON BodyFormat = "json"
	// BodyBase64 writes every body in base64.
	BodyBase64 BodyFormat = "base64"
)

// ParseBodyFormat is the BodyFormat named s (auto, text, json, base64),
// as a flag gives it.
func ParseBodyFormat(s string) (BodyFormat, error) {
	switch f := BodyFormat(s); f {
	case BodyAuto, BodyText, BodyJSON, BodyBase64:
		return f, nil
	}
	return "", fmt.Errorf("body format %q: want auto, text, json or base64", s)
}

// ErrBodyNotJSON is Append's error for a body that BodyJSON cannot write.
var ErrBodyNotJSON = errors.New("the body is not JSON (BodyAuto writes it as text)")

// AppendOptions are Append's options; nil means defaults.
type AppendOptions struct {
	// Body is how the body is written; "" means BodyText.
	Body BodyFormat
}

// Append appends ev's line, ending in a newline, to dst.
func Append(dst []byte, ev *eventhubs.Event, opts *AppendOptions) ([]byte, error) {
	format := BodyText
	if opts != nil && opts.Body != "" {
		format = opts.Body
	}
	out := Event{
		Partition:      ev.PartitionID,
		SequenceNumber: ev.SequenceNumber,
		Offset:         ev.Offset,
		EnqueuedTime:   ev.EnqueuedTime.UTC().Format(time.RFC3339Nano),
		ContentType:    ev.ContentType,
		MessageID:      ev.MessageID,
		Properties:     ev.Properties,
	}
	if ev.PartitionKey != "" {
		out.PartitionKey = &ev.PartitionKey
	}
	if out.Properties == nil {
		out.Properties = map[string]any{}
	}
	var err error
	if out.Body, out.BodyEncoding, err = bodyJSON(ev.Body, format); err != nil {
		return dst, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		out.Properties = SafeProperties(out.Properties)
		if b, err = json.Marshal(out); err != nil {
			return dst, err
		}
	}
	return append(append(dst, b...), '\n'), nil
}

// bodyJSON is body written as format says, and its bodyEncoding.
func bodyJSON(body []byte, format BodyFormat) (json.RawMessage, string, error) {
	switch format {
	case BodyText:
	case BodyAuto:
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(body) {
			return body, "", nil
		}
	case BodyJSON:
		if !json.Valid(body) {
			return nil, "", ErrBodyNotJSON
		}
		return body, "", nil
	case BodyBase64:
		return quoted(base64.StdEncoding.EncodeToString(body)), "base64", nil
	default:
		_, err := ParseBodyFormat(string(format))
		return nil, "", err
	}
	if utf8.Valid(body) {
		return quoted(string(body)), "", nil
	}
	return quoted(base64.StdEncoding.EncodeToString(body)), "base64", nil
}

// quoted is s as a JSON string.
func quoted(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// SafeProperties replaces each property value JSON cannot hold (an AMQP
// map with non-string keys, say) by the way Go prints it, rather than stop
// a read.
func SafeProperties(props map[string]any) map[string]any {
	safe := make(map[string]any, len(props))
	for k, v := range props {
		if _, err := json.Marshal(v); err != nil {
			v = fmt.Sprint(v)
		}
		safe[k] = v
	}
	return safe
}
