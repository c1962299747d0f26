package balance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// A store whose clock, which stamps the claims, is off the replica's by
// more than the expiration: judged on the replica's clock, a store behind
// makes the replica's own fresh claims look expired every round, so that
// it never claims more than one partition. Judged on the store's clock,
// it renews them and claims every partition, one a round.
func TestClaimsAreJudgedByTheStoresClock(t *testing.T) {
	for _, skew := range []time.Duration{10 * time.Second, -10 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			store := newMemStore()
			store.skew = skew
			parts := ids(4)
			b, err := New(store, consumer, "r1", &Options{UpdateInterval: time.Second, Expiration: 6 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				for _, c := range round(t, b, parts) {
					if c.Gained && c.Reason == "its own expired claim" {
						t.Errorf("clock %s off: the replica saw its own fresh claim expired", skew)
					}
				}
			}
			if got := b.Owned(); len(got) != 4 {
				t.Errorf("clock %s off: owns %v after 4 rounds, want all 4 partitions", skew, got)
			}
			if off := b.ClockOffset(); (off - skew).Abs() > time.Second {
				t.Errorf("clock %s off: estimated offset %s, want about %s", skew, off, skew)
			}
		})
	}
}

// clockStore is a memStore with a Clock, as package ownership's SQL store
// has: a balancer that has made no claim yet reads the store's clock, so
// that its first round judges others' claims rightly.
type clockStore struct{ *memStore }

func (s clockStore) Now(context.Context) (time.Time, error) { return time.Now().Add(s.skew), nil }

func TestTheFirstRoundReadsTheStoresClock(t *testing.T) {
	store := clockStore{newMemStore()}
	store.skew = -10 * time.Second
	parts := ids(2)
	a, err := New(store, consumer, "a", &Options{UpdateInterval: time.Second, Expiration: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	round(t, a, parts)
	round(t, a, parts)
	// The store's clock is 10 s behind b's: on b's clock a's live claims
	// look expired.
	b, err := New(store, consumer, "b", &Options{UpdateInterval: time.Second, Expiration: 6 * time.Second, Strategy: Greedy})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range round(t, b, parts) {
		if strings.HasPrefix(c.Reason, "the expired claim of a") {
			t.Errorf("b's first round took a's live claim as expired: %v", c)
		}
	}
	if len(b.Owned()) > 1 {
		t.Errorf("b owns %v after its first round, want at most its share", b.Owned())
	}
}

// jobStore is a memStore whose claims record a job, as package
// ownership's SQL store's do.
type jobStore struct {
	*memStore
	job  string
	jobs map[string]string // partition → the job of its record
}

func (s *jobStore) Job() string { return s.job }

func (s *jobStore) OwnershipJobs(context.Context, string, string, string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.jobs {
		out[k] = v
	}
	return out, nil
}

func (s *jobStore) ClaimOwnership(ctx context.Context, claims []azeventhubs.Ownership, o *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	got, err := s.memStore.ClaimOwnership(ctx, claims, o)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range got {
		s.jobs[c.PartitionID] = s.job
	}
	return got, err
}

// A second job on a consumer group whose live claims belong to another
// job is refused, claiming nothing; once the first job's claims are gone
// (relinquished), the group is free.
func TestAnotherJobsLiveClaimsRefuseTheRound(t *testing.T) {
	mem := newMemStore()
	jobs := map[string]string{}
	archive := &jobStore{memStore: mem, job: "archive", jobs: jobs}
	audit := &jobStore{memStore: mem, job: "audit", jobs: jobs}
	parts := ids(4)
	a, err := New(archive, consumer, "archive-1", &Options{Strategy: Greedy})
	if err != nil {
		t.Fatal(err)
	}
	round(t, a, parts)
	b, err := New(audit, consumer, "audit-1", &Options{Strategy: Greedy})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Round(context.Background(), parts)
	var oj *OtherJobError
	if !errors.As(err, &oj) || oj.Other != "archive" || oj.Job != "audit" || len(oj.Owners) != 1 || oj.Owners[0] != "archive-1" {
		t.Fatalf("audit's round: %v, want an *OtherJobError naming job archive and its replica", err)
	}
	if len(b.Owned()) != 0 || len(mem.owners(DefaultExpiration)) != 4 || mem.owners(DefaultExpiration)["0"] != "archive-1" {
		t.Fatalf("the refused round claimed: audit owns %v, the store says %v", b.Owned(), mem.owners(DefaultExpiration))
	}
	if _, err := a.Relinquish(context.Background()); err != nil {
		t.Fatal(err)
	}
	round(t, b, parts)
	if len(b.Owned()) != 4 {
		t.Errorf("audit after archive stopped: owns %v, want every partition", b.Owned())
	}
}
