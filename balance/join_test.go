package balance

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// together makes bs wait their join windows until all of them have
// claimed their first partition: replicas started within one window.
func together(bs []*Balancer) {
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	for _, b := range bs {
		b.wait = func(ctx context.Context, _ time.Duration) error {
			mu.Lock()
			if arrived++; arrived == len(bs) {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// roundTogether runs a round of each of bs at once.
func roundTogether(t *testing.T, bs []*Balancer, parts []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, len(bs))
	for _, b := range bs {
		go func() { _, err := b.Round(ctx, parts); errs <- err }()
	}
	for range bs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func counts(bs []*Balancer) []int {
	var n []int
	for _, b := range bs {
		n = append(n, len(b.Owned()))
	}
	slices.Sort(n)
	return n
}

func TestBalancedAloneClaimsAllAtOnce(t *testing.T) {
	store := newMemStore()
	b := newBalancers(t, store, Balanced, "a")[0]
	var waited []time.Duration
	b.wait = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	ch := round(t, b, ids(8))
	if len(b.Owned()) != 8 || len(ch) != 8 || !ch[0].Gained || ch[0].Reason != "unowned" {
		t.Fatalf("a alone, one round: owns %v, changes %v; want all 8 gained, unowned", b.Owned(), ch)
	}
	if !slices.Equal(waited, []time.Duration{DefaultUpdateInterval / 2}) {
		t.Fatalf("the round waited %v, want one join window of %s", waited, DefaultUpdateInterval/2)
	}
	// The next round only renews: it waits for nobody.
	if ch := round(t, b, ids(8)); len(ch) != 0 || len(waited) != 1 || len(store.owners(DefaultExpiration)) != 8 {
		t.Fatalf("second round: changes %v, waited %v, store %v", ch, waited, store.owners(DefaultExpiration))
	}
}

// Replicas starting together (within the join window) each claim their
// fair share in their first round, whichever partitions they pick first
// (two may pick the same one): many starts, to meet those collisions.
func TestBalancedStartingTogetherClaimFairSharesInOneRound(t *testing.T) {
	parts := ids(8)
	for range 200 {
		store := newMemStore()
		bs := newBalancers(t, store, Balanced, "a", "b", "c")
		together(bs)
		roundTogether(t, bs, parts)
		if n := counts(bs); !slices.Equal(n, []int{2, 3, 3}) || len(store.owners(DefaultExpiration)) != 8 {
			t.Fatalf("after the first round: owned %v, store %v; want 3, 3 and 2, all 8", n, store.owners(DefaultExpiration))
		}
		if err := checkShares(bs, 8); err != nil {
			t.Fatal(err)
		}
		// The second round changes nothing: nobody takes from anybody.
		for _, b := range bs {
			if ch := round(t, b, parts); len(ch) != 0 {
				t.Fatalf("%s's second round: %v, want no change", b.Owner(), ch)
			}
		}
	}
}

// A crashed replica's claims, once expired, are taken up to the
// survivors' shares in one round each.
func TestBalancedTakesExpiredClaimsUpToTheShareAtOnce(t *testing.T) {
	store := newMemStore()
	parts := ids(8)
	bs := newBalancers(t, store, Balanced, "a", "b", "c")
	together(bs)
	roundTogether(t, bs, parts)
	// c dies, holding 2 or 3.
	store.age("c", 2*DefaultExpiration)
	for _, b := range bs[:2] {
		before := len(b.Owned())
		ch := round(t, b, parts)
		if len(b.Owned()) != 4 || len(ch) != 4-before || !strings.HasPrefix(ch[0].Reason, "the expired claim of c") {
			t.Fatalf("%s after c's claims expired: owns %v (had %d), changes %v; want 4 in one round", b.Owner(), b.Owned(), before, ch)
		}
	}
	if own := store.owners(DefaultExpiration); len(own) != 8 {
		t.Fatalf("after a round of each survivor the store says %v, want all 8 owned", own)
	}
}

// A replica joining a job whose partitions all have live owners takes one
// partition per round, and each owner loses one at a time.
func TestBalancedTakesFromLiveOwnersOnePerRound(t *testing.T) {
	store := newMemStore()
	parts := ids(8)
	a := newBalancers(t, store, Balanced, "a")[0]
	round(t, a, parts)
	b := newBalancers(t, store, Balanced, "b")[0]
	for r := 1; r <= 4; r++ {
		ch := round(t, b, parts)
		if len(b.Owned()) != r || len(ch) != 1 || !ch[0].Gained || ch[0].Reason != "balanced from a" {
			t.Fatalf("b's round %d: owns %v, changes %v; want one more, from a", r, b.Owned(), ch)
		}
		ch = round(t, a, parts)
		if len(a.Owned()) != 8-r || len(ch) != 1 || ch[0].Gained {
			t.Fatalf("a's round %d: owns %v, changes %v; want one fewer", r, a.Owned(), ch)
		}
	}
	if ch := round(t, b, parts); len(ch) != 0 {
		t.Fatalf("b at its share took more: %v", ch)
	}
	if err := checkShares([]*Balancer{a, b}, 8); err != nil {
		t.Fatal(err)
	}
}

// A round stopped while it waits its join window says so and claims
// nothing more; its next round renews the partition it claimed first and
// claims the rest, as gained.
func TestJoinStoppedWhileWaiting(t *testing.T) {
	store := newMemStore()
	b := newBalancers(t, store, Balanced, "a")[0]
	b.wait = func(context.Context, time.Duration) error { return context.DeadlineExceeded }
	_, err := b.Round(context.Background(), ids(8))
	if err == nil || !strings.Contains(err.Error(), "waiting 5s for replicas starting together") || len(b.Owned()) != 0 {
		t.Fatalf("Round = %v, owns %v; want the wait's error and nothing owned", err, b.Owned())
	}
	if own := store.owners(DefaultExpiration); len(own) != 1 {
		t.Fatalf("the store says %v, want the one partition claimed before the wait", own)
	}
	if ch := round(t, b, ids(8)); len(ch) != 8 || len(b.Owned()) != 8 {
		t.Fatalf("the next round: changes %v, owns %v; want all 8 gained", ch, b.Owned())
	}
}
