package eventjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// line is the form of an event to send: a line Decode takes.
type line struct {
	Body         json.RawMessage `json:"body"`
	Properties   map[string]any  `json:"properties"`
	PartitionKey string          `json:"partitionKey"`
	ContentType  string          `json:"contentType"`
	MessageID    string          `json:"messageId"`
}

// Decode makes the event of text, one JSON object
// {"body": ..., "properties": {...}, "partitionKey": "...", "contentType":
// "...", "messageId": "..."}, of which only the body is required; key is
// its partition key, "" for none. The event's Properties are never nil.
// Unknown fields are refused, so that a misspelt one is not lost.
func Decode(text []byte) (ev *azeventhubs.EventData, key string, err error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var l line
	if err := dec.Decode(&l); err != nil {
		return nil, "", fmt.Errorf("not a JSON event: %v", err)
	}
	if dec.More() {
		return nil, "", errors.New("more than one JSON value")
	}
	if len(l.Body) == 0 || string(l.Body) == "null" {
		return nil, "", errors.New(`no "body"`)
	}
	body, err := bodyOf(l.Body)
	if err != nil {
		return nil, "", fmt.Errorf("body: %v", err)
	}
	ev = &azeventhubs.EventData{Body: body, Properties: make(map[string]any, len(l.Properties))}
	for k, v := range l.Properties {
		pv, err := propertyValue(v)
		if err != nil {
			return nil, "", fmt.Errorf("property %q: %v", k, err)
		}
		ev.Properties[k] = pv
	}
	if l.ContentType != "" {
		ev.ContentType = &l.ContentType
	}
	if l.MessageID != "" {
		ev.MessageID = &l.MessageID
	}
	return ev, l.PartitionKey, nil
}

// bodyOf is the body of a line's "body": a string's text, and any other
// JSON value's JSON text.
func bodyOf(raw json.RawMessage) ([]byte, error) {
	if raw[0] != '"' {
		var b bytes.Buffer
		err := json.Compact(&b, raw)
		return b.Bytes(), err
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return []byte(s), err
}

// propertyValue maps a JSON value to an AMQP application property: whole
// numbers become long, others double; objects and arrays are not allowed
// (AMQP application properties are simple values).
func propertyValue(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is not a number AMQP can carry", v)
		}
		return f, nil
	case string, bool:
		return v, nil
	case nil:
		return nil, errors.New("null is not allowed")
	default:
		return nil, errors.New("objects and arrays are not allowed; use a string")
	}
}
