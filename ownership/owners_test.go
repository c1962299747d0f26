package ownership_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
)

// listStore is a CheckpointStore whose ListOwnership serves records by
// namespace and says what it was asked.
type listStore struct {
	azeventhubs.CheckpointStore
	records map[string][]azeventhubs.Ownership // by namespace
	asked   []string
}

func (s *listStore) ListOwnership(ctx context.Context, namespace, hub, group string, _ *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	s.asked = append(s.asked, namespace+"/"+hub+"/"+group)
	var out []azeventhubs.Ownership
	for _, o := range s.records[namespace] {
		if o.EventHubName == hub && o.ConsumerGroup == group {
			out = append(out, o)
		}
	}
	return out, nil
}

// OwnersOf asks once per consumer group, under the endpoint for positions
// of its host (as blob stores name records), and finds each position's
// record.
func TestOwnersOf(t *testing.T) {
	pos := func(ns, group, partition string) offsets.Position {
		return offsets.Position{Job: offsets.Job{Name: "j", Namespace: ns, EventHub: "orders", ConsumerGroup: group}, Partition: partition}
	}
	store := &listStore{records: map[string][]azeventhubs.Ownership{
		"localhost:5672": {{EventHubName: "orders", ConsumerGroup: "$default", PartitionID: "0", OwnerID: "a"},
			{EventHubName: "orders", ConsumerGroup: "$default", PartitionID: "1", OwnerID: ""}},
		"other.example": {{EventHubName: "orders", ConsumerGroup: "g", PartitionID: "0", OwnerID: "b"}},
	}}
	ps := []offsets.Position{pos("localhost", "$default", "0"), pos("localhost", "$default", "1"), pos("localhost", "$default", "2"), pos("other.example", "g", "0")}
	owners, err := ownership.OwnersOf(context.Background(), store, ps, "localhost:5672")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := store.asked, []string{"localhost:5672/orders/$default", "other.example/orders/g"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("asked %q, want %q", got, want)
	}
	for i, want := range []struct {
		owner string
		ok    bool
	}{{"a", true}, {"", true}, {"", false}, {"b", true}} {
		if o, ok := owners.Of(ps[i]); ok != want.ok || o.OwnerID != want.owner {
			t.Errorf("owner of %+v = %q, %v; want %q, %v", ps[i], o.OwnerID, ok, want.owner, want.ok)
		}
	}
}
