package ownership_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// The names a Processor of the emulator would pass: the namespace with
// its port.
const (
	testNamespace = "localhost:5672"
	testHub       = "orders"
	testGroup     = "$Default"
)

func rec(partition, owner string, etag *azcore.ETag) azeventhubs.Ownership {
	return azeventhubs.Ownership{FullyQualifiedNamespace: testNamespace, EventHubName: testHub, ConsumerGroup: testGroup,
		PartitionID: partition, OwnerID: owner, ETag: etag}
}

func claim(t testing.TB, b backend, os ...azeventhubs.Ownership) []azeventhubs.Ownership {
	t.Helper()
	got, err := b.store.ClaimOwnership(testCtx(t, 30*time.Second), os, nil)
	if err != nil {
		t.Fatalf("ClaimOwnership: %v", err)
	}
	return got
}

// claimOne claims partition for owner with etag and reports whether it
// won, and the claimed record.
func claimOne(t testing.TB, b backend, partition, owner string, etag *azcore.ETag) (azeventhubs.Ownership, bool) {
	t.Helper()
	got := claim(t, b, rec(partition, owner, etag))
	if len(got) > 1 {
		t.Fatalf("one claim returned %d records", len(got))
	}
	if len(got) == 0 {
		return azeventhubs.Ownership{}, false
	}
	if got[0].ETag == nil || got[0].OwnerID != owner || got[0].PartitionID != partition {
		t.Fatalf("claimed record %+v, want partition %s owned by %q with an ETag", got[0], partition, owner)
	}
	return got[0], true
}

// sameETag compares ETags as HTTP does: the SDK's blob store returns a
// claim's ETag quoted (the ETag header) and a listed one bare (the listing's
// XML).
func sameETag(a, b *azcore.ETag) bool {
	return a != nil && b != nil && strings.Trim(string(*a), `"`) == strings.Trim(string(*b), `"`)
}

// listed is the stored record of partition, failing if there is none.
func listed(t testing.TB, b backend, partition string) azeventhubs.Ownership {
	t.Helper()
	os, err := b.store.ListOwnership(testCtx(t, 30*time.Second), testNamespace, testHub, testGroup, nil)
	if err != nil {
		t.Fatalf("ListOwnership: %v", err)
	}
	for _, o := range os {
		if o.PartitionID == partition {
			if o.FullyQualifiedNamespace != testNamespace || o.EventHubName != testHub || o.ConsumerGroup != testGroup || o.ETag == nil {
				t.Fatalf("listed %+v: want the names asked with, and an ETag", o)
			}
			return o
		}
	}
	t.Fatalf("no record of partition %s in %+v", partition, os)
	return azeventhubs.Ownership{}
}

// Many replicas claiming one partition at the same instant, again and
// again, each with the ETag all of them listed (none, the first time):
// each round exactly one wins, and the record is the winner's.
func TestRacingClaims(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		racers, rounds := 16, 20
		if _, ok := b.store.(interface{ Table() string }); !ok {
			racers, rounds = 8, 5 // blobs: each claim is an HTTP request to a node process
		}
		var etag *azcore.ETag
		for round := range rounds {
			start := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won []azeventhubs.Ownership
			for r := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got, err := b.store.ClaimOwnership(testCtx(t, 60*time.Second), []azeventhubs.Ownership{rec("0", fmt.Sprintf("replica-%d", r), etag)}, nil)
					if err != nil {
						t.Errorf("round %d replica %d: %v", round, r, err)
						return
					}
					mu.Lock()
					won = append(won, got...)
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			if t.Failed() {
				return
			}
			if len(won) != 1 {
				t.Fatalf("round %d: %d of %d racing claims won, want exactly 1: %+v", round, len(won), racers, won)
			}
			o := listed(t, b, "0")
			if o.OwnerID != won[0].OwnerID || !sameETag(o.ETag, won[0].ETag) {
				t.Fatalf("round %d: %s won with ETag %s, but the record is %s's with %s", round, won[0].OwnerID, *won[0].ETag, o.OwnerID, *o.ETag)
			}
			etag = o.ETag
		}
	})
}

// A claim with an ETag that is no longer the record's is refused, and
// changes nothing; so is a claim without an ETag of a partition claimed
// before. Renewing with the current ETag succeeds and changes the ETag.
func TestStaleETagRefused(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		first, ok := claimOne(t, b, "1", "a", nil)
		if !ok {
			t.Fatal("the first claim of a partition failed")
		}
		renewed, ok := claimOne(t, b, "1", "a", first.ETag)
		if !ok {
			t.Fatal("renewing with the current ETag failed")
		}
		if sameETag(renewed.ETag, first.ETag) {
			t.Fatalf("renewing kept ETag %s: a claim must change it", *first.ETag)
		}
		if _, ok := claimOne(t, b, "1", "b", first.ETag); ok {
			t.Fatal("a claim with a stale ETag won")
		}
		if _, ok := claimOne(t, b, "1", "b", nil); ok {
			t.Fatal("a claim without an ETag won a partition that has a record")
		}
		bogus := azcore.ETag("not-an-etag")
		if _, ok := claimOne(t, b, "1", "b", &bogus); ok {
			t.Fatal("a claim with a made-up ETag won")
		}
		if o := listed(t, b, "1"); o.OwnerID != "a" || !sameETag(o.ETag, renewed.ETag) {
			t.Fatalf("after refused claims the record is %s's with %s, want a's with %s", o.OwnerID, *o.ETag, *renewed.ETag)
		}
		// Of several records in one call, only those that won come back.
		got := claim(t, b, rec("1", "b", first.ETag), rec("2", "b", nil))
		if len(got) != 1 || got[0].PartitionID != "2" {
			t.Fatalf("claiming a stale 1 and a new 2 returned %+v, want 2 alone", got)
		}
	})
}

// A replica judges a claim expired by its LastModifiedTime (the SDK's
// Processor: time.Since(LastModifiedTime) > PartitionExpirationDuration)
// and takes it with the record's current ETag; the old owner's renewal then
// fails.
func TestExpiredClaimTaken(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		expiration := 300 * time.Millisecond
		if b.precision >= time.Second {
			expiration = 1500 * time.Millisecond // blob times are whole seconds
		}
		old, ok := claimOne(t, b, "0", "a", nil)
		if !ok {
			t.Fatal("first claim failed")
		}
		o := listed(t, b, "0")
		if time.Since(o.LastModifiedTime) > expiration {
			t.Fatalf("a fresh claim reads as expired: modified %s, now %s", o.LastModifiedTime, time.Now())
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Since(o.LastModifiedTime) <= expiration {
			if time.Now().After(deadline) {
				t.Fatalf("the claim of %s never expired", o.LastModifiedTime)
			}
			time.Sleep(100 * time.Millisecond)
			o = listed(t, b, "0")
		}
		if o.OwnerID != "a" {
			t.Fatalf("the expired record is %q's, want a's", o.OwnerID)
		}
		taken, ok := claimOne(t, b, "0", "b", o.ETag)
		if !ok {
			t.Fatal("an expired claim could not be taken with its ETag")
		}
		if !taken.LastModifiedTime.After(o.LastModifiedTime) {
			t.Fatalf("taking the claim left its time at %s (was %s)", taken.LastModifiedTime, o.LastModifiedTime)
		}
		if _, ok := claimOne(t, b, "0", "a", old.ETag); ok {
			t.Fatal("the old owner renewed a claim another replica took")
		}
		if o := listed(t, b, "0"); o.OwnerID != "b" {
			t.Fatalf("the record is %q's, want b's", o.OwnerID)
		}
	})
}

// Relinquishing, as a Processor does when it stops, is a claim with the
// owner ID "": the record stays, reads as unowned, and the next replica
// takes it with its ETag.
func TestRelinquish(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		mine, ok := claimOne(t, b, "3", "a", nil)
		if !ok {
			t.Fatal("first claim failed")
		}
		mine.OwnerID = ""
		got := claim(t, b, mine)
		if len(got) != 1 || got[0].OwnerID != "" {
			t.Fatalf("relinquishing returned %+v, want the record with no owner", got)
		}
		o := listed(t, b, "3")
		if o.OwnerID != "" {
			t.Fatalf("a relinquished record reads as %q's", o.OwnerID)
		}
		if _, ok := claimOne(t, b, "3", "b", o.ETag); !ok {
			t.Fatal("a relinquished partition could not be claimed")
		}
		if o := listed(t, b, "3"); o.OwnerID != "b" {
			t.Fatalf("the record is %q's, want b's", o.OwnerID)
		}
	})
}

// A claim's LastModifiedTime is the store's clock at the claim (the
// database's, or the storage service's), and ListOwnership returns the
// same time and ETag as the claim did.
func TestClaimTimeIsTheStoresClock(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		before := b.clock(t)
		o, ok := claimOne(t, b, "5", "a", nil)
		if !ok {
			t.Fatal("claim failed")
		}
		after := b.clock(t)
		lo, hi := before.Truncate(b.precision), after.Truncate(b.precision).Add(b.precision)
		if o.LastModifiedTime.Before(lo) || o.LastModifiedTime.After(hi) {
			t.Fatalf("claimed at %s, outside the store's clock around the claim [%s, %s]", o.LastModifiedTime, lo, hi)
		}
		l := listed(t, b, "5")
		if !l.LastModifiedTime.Equal(o.LastModifiedTime) || !sameETag(l.ETag, o.ETag) {
			t.Fatalf("listed %s %s, claimed %s %s", l.LastModifiedTime, *l.ETag, o.LastModifiedTime, *o.ETag)
		}
	})
}
