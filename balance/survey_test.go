package balance

import (
	"context"
	"testing"
	"time"
)

// A survey sees a claim renewed within 1.5 update intervals as live, and
// one not renewed for longer, one relinquished and one never made as
// having no live owner, long before any of them expires.
func TestSurvey(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	consumer := Consumer{Namespace: "ns", EventHub: "h", ConsumerGroup: "g"}
	const interval = 10 * time.Second
	ids := []string{"0", "1", "2", "3"}
	for _, owner := range []string{"a", "b"} {
		b, err := New(store, consumer, owner, &Options{Strategy: Greedy, UpdateInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Round(ctx, ids[:3]); err != nil {
			t.Fatal(err)
		}
		if owner == "b" {
			if _, err := b.Relinquish(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	list, _ := store.ListOwnership(ctx, "ns", "h", "g", nil)
	if len(list) != 3 {
		t.Fatalf("%d records, want 3: a's claims, b's given up", len(list))
	}
	owners := map[string]string{}
	for _, o := range list {
		owners[o.PartitionID] = o.OwnerID
	}
	for _, c := range []struct {
		after string
		now   time.Time
		live  int
	}{
		{"at once", time.Now(), 2},
		{"1.4 intervals", time.Now().Add(14 * interval / 10), 2},
		{"1.6 intervals", time.Now().Add(16 * interval / 10), 0},
	} {
		claims := Survey(list, ids, c.now, interval)
		live := 0
		for i, cl := range claims {
			if cl.PartitionID != ids[i] || cl.Owner != owners[cl.PartitionID] {
				t.Errorf("%s: claim %+v, want partition %s owned by %q", c.after, cl, ids[i], owners[ids[i]])
			}
			if cl.Live {
				live++
				if cl.Owner != "a" {
					t.Errorf("%s: %+v is live", c.after, cl)
				}
			}
		}
		if live != c.live {
			t.Errorf("%s: %d live claims, want %d", c.after, live, c.live)
		}
		if last := claims[3]; last.Owner != "" || !last.Changed.IsZero() || last.Live {
			t.Errorf("%s: the partition never claimed is %+v", c.after, last)
		}
	}
}
