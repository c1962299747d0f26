package eventjson

import (
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// Hub is the JSON form of a hub's description (eventhubs.HubProperties),
// as `ehstream info --json` prints it: the sequence numbers a partition
// holds are null when it holds none, so that no reader takes a number
// for an event.
type Hub struct {
	Name       string      `json:"name"`
	CreatedOn  time.Time   `json:"createdOn"` // in UTC
	Partitions []Partition `json:"partitions"`
}

// Partition is the JSON form of a partition's bounds (Hub).
type Partition struct {
	ID                  string `json:"id"`
	Empty               bool   `json:"empty"`
	FirstSequenceNumber *int64 `json:"firstSequenceNumber"`
	LastSequenceNumber  *int64 `json:"lastSequenceNumber"`
	// NextSequenceNumber is the sequence number the next event will have.
	NextSequenceNumber int64      `json:"nextSequenceNumber"`
	LastOffset         string     `json:"lastOffset,omitempty"`
	LastEnqueuedTime   *time.Time `json:"lastEnqueuedTime,omitempty"`
}

// HubOf is hp's JSON form.
func HubOf(hp *eventhubs.HubProperties) Hub {
	out := Hub{Name: hp.Name, CreatedOn: hp.CreatedOn.UTC()}
	for _, b := range hp.Partitions {
		p := Partition{ID: b.PartitionID, Empty: b.Empty(), NextSequenceNumber: b.End}
		if !b.Empty() {
			first, last, t := b.First, b.End-1, b.LastEnqueued
			p.FirstSequenceNumber, p.LastSequenceNumber, p.LastOffset, p.LastEnqueuedTime = &first, &last, b.LastOffset, &t
		}
		out.Partitions = append(out.Partitions, p)
	}
	return out
}
