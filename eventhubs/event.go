package eventhubs

import (
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// Event is one event read from a partition.
type Event struct {
	Body []byte
	// Properties are the application properties the sender set.
	Properties map[string]any
	// SystemProperties are the service's annotations beyond the fields below.
	SystemProperties map[string]any

	PartitionID    string
	SequenceNumber int64
	Offset         string // opaque: store and pass back, never compute with it
	EnqueuedTime   time.Time
	PartitionKey   string // "" when the sender gave none
	ContentType    string
	MessageID      string
	CorrelationID  any
}

func newEvent(partitionID string, e *azeventhubs.ReceivedEventData) *Event {
	ev := &Event{
		Body:             e.Body,
		Properties:       e.Properties,
		SystemProperties: e.SystemProperties,
		PartitionID:      partitionID,
		SequenceNumber:   e.SequenceNumber,
		Offset:           e.Offset,
		CorrelationID:    e.CorrelationID,
	}
	if e.EnqueuedTime != nil {
		ev.EnqueuedTime = e.EnqueuedTime.UTC()
	}
	if e.PartitionKey != nil {
		ev.PartitionKey = *e.PartitionKey
	}
	if e.ContentType != nil {
		ev.ContentType = *e.ContentType
	}
	if e.MessageID != nil {
		ev.MessageID = *e.MessageID
	}
	return ev
}
