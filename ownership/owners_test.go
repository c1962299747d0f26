package ownership_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// OwnersOfSpec opens the store read-only, finds the positions' owners
// under the endpoint, and closes it; a store that does not exist is an
// error that creates nothing and names the store without its secret.
func TestOwnersOfSpec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "own.db")
	spec := "sqlite:" + path
	ps := []offsets.Position{{Job: offsets.Job{Name: "totals", Namespace: "localhost", EventHub: testHub, ConsumerGroup: testGroup}, Partition: "0"}}
	if _, err := ownership.OwnersOfSpec(testCtx(t, 30*time.Second), spec, ps, nil); err == nil {
		t.Fatal("OwnersOfSpec of a missing store: no error")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("OwnersOfSpec created the store")
	}
	store, closer, err := ownership.Open(testCtx(t, 30*time.Second), spec, "totals", nil)
	if err != nil {
		t.Fatal(err)
	}
	claimWorks(t, store) // partition 0 of testNamespace, owner a
	closer.Close()
	owners, err := ownership.OwnersOfSpec(testCtx(t, 30*time.Second), spec, ps, &ownership.OwnersOfSpecOptions{Endpoint: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := owners.Of(ps[0]); !ok || o.OwnerID != "a" {
		t.Errorf("owner of partition 0 = %q, %v; want a, true", o.OwnerID, ok)
	}
	secret := "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=1"
	if _, err := ownership.OwnersOfSpec(testCtx(t, 30*time.Second), secret, ps, nil); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("OwnersOfSpec of an unreachable store: %v, want an error without the password", err)
	}
}
