package eventjson

import (
	"encoding/base64"
	"encoding/json"
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
	Body           string         `json:"body"`
	BodyEncoding   string         `json:"bodyEncoding,omitempty"` // "base64" for a body that is not UTF-8
}

// Append appends ev's line, ending in a newline, to dst.
func Append(dst []byte, ev *eventhubs.Event) ([]byte, error) {
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
	if utf8.Valid(ev.Body) {
		out.Body = string(ev.Body)
	} else {
		out.Body = base64.StdEncoding.EncodeToString(ev.Body)
		out.BodyEncoding = "base64"
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
