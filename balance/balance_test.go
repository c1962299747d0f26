package balance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// memStore keeps ownership records in memory with the SDK's semantics: a
// claim with the record's ETag (or of a partition without a record, with
// none) wins and gets a new ETag; others are left out of the result. The
// stores users run are tested in package ownership.
type memStore struct {
	mu      sync.Mutex
	records map[string]azeventhubs.Ownership
	version int
	skew    time.Duration // how far the store's clock, which stamps claims, is off
}

func newMemStore() *memStore { return &memStore{records: map[string]azeventhubs.Ownership{}} }

func (m *memStore) ListOwnership(ctx context.Context, ns, hub, group string, _ *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []azeventhubs.Ownership
	for _, o := range m.records {
		out = append(out, o)
	}
	return out, nil
}

func (m *memStore) ClaimOwnership(ctx context.Context, claims []azeventhubs.Ownership, _ *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var got []azeventhubs.Ownership
	for _, c := range claims {
		cur, ok := m.records[c.PartitionID]
		if ok && (c.ETag == nil || *c.ETag != *cur.ETag) || !ok && c.ETag != nil {
			continue
		}
		m.version++
		tag := azcore.ETag(strconv.Itoa(m.version))
		c.ETag, c.LastModifiedTime = &tag, time.Now().Add(m.skew)
		m.records[c.PartitionID] = c
		got = append(got, c)
	}
	return got, nil
}

func (m *memStore) ListCheckpoints(context.Context, string, string, string, *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	return nil, nil
}

func (m *memStore) SetCheckpoint(context.Context, azeventhubs.Checkpoint, *azeventhubs.SetCheckpointOptions) error {
	return nil
}

// age makes the claims of owner look last renewed d ago.
func (m *memStore) age(owner string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, o := range m.records {
		if o.OwnerID == owner {
			o.LastModifiedTime = o.LastModifiedTime.Add(-d)
			m.records[id] = o
		}
	}
}

// owners is who owns each partition, per the store, live claims only.
func (m *memStore) owners(exp time.Duration) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for id, o := range m.records {
		if o.OwnerID != "" && time.Since(o.LastModifiedTime) <= exp {
			out[id] = o.OwnerID
		}
	}
	return out
}

var consumer = Consumer{Namespace: "localhost:5672", EventHub: "hub", ConsumerGroup: "$default"}

func ids(n int) []string {
	var s []string
	for i := range n {
		s = append(s, strconv.Itoa(i))
	}
	return s
}

func newBalancers(t *testing.T, store *memStore, strategy Strategy, names ...string) []*Balancer {
	var bs []*Balancer
	for _, n := range names {
		b, err := New(store, consumer, n, &Options{Strategy: strategy})
		if err != nil {
			t.Fatal(err)
		}
		// Rounds run one after another: no other replica claims while
		// one waits its join window (join_test.go has those that do).
		b.wait = func(context.Context, time.Duration) error { return nil }
		bs = append(bs, b)
	}
	return bs
}

func round(t *testing.T, b *Balancer, parts []string) []Change {
	t.Helper()
	ch, err := b.Round(context.Background(), parts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// checkShares says whether every balancer owns share or share+1
// partitions and no partition has two owners.
func checkShares(bs []*Balancer, parts int) error {
	seen := map[string]string{}
	for _, b := range bs {
		n := len(b.Owned())
		if n < parts/len(bs) || n > (parts+len(bs)-1)/len(bs) {
			return fmt.Errorf("%s owns %v", b.Owner(), b.Owned())
		}
		for _, id := range b.Owned() {
			if other, dup := seen[id]; dup {
				return fmt.Errorf("partition %s owned by %s and %s", id, other, b.Owner())
			}
			seen[id] = b.Owner()
		}
	}
	return nil
}

func TestBalancedSharesWithinThreeRounds(t *testing.T) {
	store := newMemStore()
	parts := ids(8)
	bs := newBalancers(t, store, Balanced, "a", "b", "c")
	for r := 0; r < 3; r++ {
		for _, b := range bs {
			round(t, b, parts)
		}
	}
	// One more round for each to see the last claims of the others.
	for _, b := range bs {
		round(t, b, parts)
	}
	if err := checkShares(bs, 8); err != nil {
		t.Fatal(err)
	}
}

func TestGreedyClaimsItsShareAtOnceAndTakesFromTheLoaded(t *testing.T) {
	store := newMemStore()
	parts := ids(8)
	a := newBalancers(t, store, Greedy, "a")[0]
	if ch := round(t, a, parts); len(ch) != 8 || len(a.Owned()) != 8 {
		t.Fatalf("a alone: changes %v, owns %v; want all 8 at once", ch, a.Owned())
	}
	b := newBalancers(t, store, Greedy, "b")[0]
	if round(t, b, parts); len(b.Owned()) != 4 {
		t.Fatalf("b joining: owns %v, want 4 taken from a", b.Owned())
	}
	ch := round(t, a, parts)
	if len(a.Owned()) != 4 || len(ch) != 4 || ch[0].Gained || !strings.HasPrefix(ch[0].Reason, "taken by b") {
		t.Fatalf("a after b joined: owns %v, changes %v; want 4 lost, taken by b", a.Owned(), ch)
	}
	if err := checkShares([]*Balancer{a, b}, 8); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredClaimsAreTaken(t *testing.T) {
	store := newMemStore()
	parts := ids(4)
	bs := newBalancers(t, store, Greedy, "a", "b")
	for range 2 {
		for _, b := range bs {
			round(t, b, parts)
		}
	}
	if err := checkShares(bs, 4); err != nil {
		t.Fatal(err)
	}
	store.age("b", 2*DefaultExpiration) // b died
	ch := round(t, bs[0], parts)
	if len(bs[0].Owned()) != 4 || len(ch) != 2 || !strings.HasPrefix(ch[0].Reason, "the expired claim of b") {
		t.Fatalf("a after b's claims expired: owns %v, changes %v; want b's two", bs[0].Owned(), ch)
	}
	// b comes back (it was paused): its renewals fail, it learns it lost
	// them, and balances again.
	ch = round(t, bs[1], parts)
	lost := 0
	for _, c := range ch {
		if !c.Gained && strings.HasPrefix(c.Reason, "taken by a") {
			lost++
		}
	}
	// It may take one back at once (a holds more than its share), but as
	// a partition gained anew: a may have moved its position meanwhile.
	if lost != 2 {
		t.Fatalf("b after the pause: changes %v; want its two partitions lost to a", ch)
	}
	round(t, bs[1], parts)
	round(t, bs[0], parts)
	if err := checkShares(bs, 4); err != nil {
		t.Fatal(err)
	}
}

func TestRelinquishedPartitionsMoveAtTheNextRound(t *testing.T) {
	store := newMemStore()
	parts := ids(6)
	bs := newBalancers(t, store, Balanced, "a", "b")
	for range 4 {
		for _, b := range bs {
			round(t, b, parts)
		}
	}
	if err := checkShares(bs, 6); err != nil {
		t.Fatal(err)
	}
	ch, err := bs[1].Relinquish(context.Background())
	if err != nil || len(ch) != 3 || len(bs[1].Owned()) != 0 {
		t.Fatalf("relinquish: %v, %v; owns %v", ch, err, bs[1].Owned())
	}
	if own := store.owners(DefaultExpiration); len(own) != 3 {
		t.Fatalf("after relinquishing the store says %v, want only a's three owned", own)
	}
	// Balanced takes relinquished partitions all in one round.
	ch = round(t, bs[0], parts)
	if len(bs[0].Owned()) != 6 || len(ch) != 3 || ch[0].Reason != "relinquished" {
		t.Fatalf("after b relinquished: owns %v, changes %v", bs[0].Owned(), ch)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	store := newMemStore()
	for _, c := range []struct {
		owner string
		opts  Options
		want  string
	}{
		{"", Options{}, "owner ID is empty"},
		{"a", Options{Strategy: "fair"}, `strategy "fair"`},
		{"a", Options{UpdateInterval: time.Minute, Expiration: time.Second}, "must exceed the update interval"},
		{"a", Options{UpdateInterval: -time.Second}, "must be positive"},
		{"a", Options{UpdateInterval: time.Second, JoinWindow: time.Second}, "join window 1s: must be positive and shorter"},
		{"a", Options{JoinWindow: -time.Second}, "join window -1s"},
	} {
		if _, err := New(store, consumer, c.owner, &c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, %+v) = %v, want an error with %q", c.owner, c.opts, err, c.want)
		}
	}
}
