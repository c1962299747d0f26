package eventjson_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/eventjson"
)

// HubOf gives a partition with events its first and last sequence numbers,
// last offset and time, and an empty one nulls and its next number; times
// are in UTC.
func TestHubOf(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	hp := &eventhubs.HubProperties{Name: "orders", CreatedOn: at, PartitionIDs: []string{"0", "1"}, Partitions: []eventhubs.PartitionBounds{
		{PartitionID: "0", First: 3, End: 10, LastOffset: "900", LastEnqueued: at}, {PartitionID: "1", First: 4, End: 4}}}
	got, err := json.Marshal(eventjson.HubOf(hp))
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
