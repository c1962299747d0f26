package ownership_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/streaming"
)

// claimHub is the hub of the claim tests: 8 partitions, as the SDKs'
// load-balancing tests and the measurements use.
const claimHub, claimPartitions = "claims", 8

// claimRun is replicas of a job that reads nothing (an empty hub, a no-op
// output), sharing hub "claims" through one SQLite ownership table.
type claimRun struct {
	srv       *emulator.Server
	db        *sql.DB
	positions *offsets.Store
	table     string
	store     *ownership.SQLStore // the test's own reader of the records
	contexts  []*streaming.Context
	done      []chan error
}

func newClaimRun(tb testing.TB) *claimRun {
	tb.Helper()
	ctx := testCtx(tb, 30*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: claimHub, PartitionCount: claimPartitions}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	r := &claimRun{srv: srv, db: openSQLite(tb)}
	r.positions, r.store = sqlStores(tb, r.db, "claims")
	r.table = r.store.Table()
	return r
}

// start starts a replica named owner; it runs until the test ends.
func (r *claimRun) start(tb testing.TB, owner string, interval, expiration time.Duration) {
	tb.Helper()
	ssc, err := streaming.NewContext(100*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		tb.Fatal(err)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(r.srv.ConnectionString(claimHub)))
	if err != nil {
		tb.Fatal(err)
	}
	ds.ForeachRDD(func(context.Context, *eventhubs.RDD) error { return nil })
	store, err := ownership.NewSQLStore(testCtx(tb, 30*time.Second), r.positions, "claims", &ownership.SQLOptions{Table: r.table})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ds.SetOwnershipStore(store, &eventhubs.OwnershipOptions{OwnerID: owner, UpdateInterval: interval, Expiration: expiration}); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ssc.Run(context.Background()) }()
	r.contexts, r.done = append(r.contexts, ssc), append(r.done, done)
	tb.Cleanup(func() {
		ssc.Stop(false)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
}

// owners is each partition's live owner (within expiration), per the
// records.
func (r *claimRun) owners(tb testing.TB, expiration time.Duration) map[string]string {
	tb.Helper()
	ns, err := eventhubs.NewConf(r.srv.ConnectionString(claimHub)).FullyQualifiedNamespace()
	if err != nil {
		tb.Fatal(err)
	}
	list, err := r.store.ListOwnership(testCtx(tb, 10*time.Second), ns, claimHub, azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		tb.Fatal(err)
	}
	now := dbClock(tb, r.db, offsets.SQLite)
	out := map[string]string{}
	for _, o := range list {
		if o.OwnerID != "" && now.Sub(o.LastModifiedTime) <= expiration {
			out[o.PartitionID] = o.OwnerID
		}
	}
	return out
}

// waitOwned polls the records until every partition has a live owner
// among live, and returns how long that took from since; it fails the
// test after limit.
func (r *claimRun) waitOwned(tb testing.TB, since time.Time, limit, expiration time.Duration, live ...string) (time.Duration, map[string]int) {
	tb.Helper()
	for {
		own := r.owners(tb, expiration)
		counts := map[string]int{}
		for _, o := range own {
			counts[o]++
		}
		ok := len(own) == claimPartitions
		for o := range counts {
			ok = ok && contains(live, o)
		}
		if ok {
			return time.Since(since), counts
		}
		if time.Since(since) > limit {
			tb.Fatalf("after %s the owners are %v; want all %d partitions owned by %v", time.Since(since).Round(time.Millisecond), own, claimPartitions, live)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Three replicas starting together on an 8-partition hub own every
// partition within two update intervals, and soon each holds its fair
// share (3, 3 and 2). The takeover after kill -9 is cmd/ehstream's
// TestStreamReplicas: it needs processes.
func TestReplicasStartingTogetherOwnAllWithinTwoIntervals(t *testing.T) {
	const interval, expiration = time.Second, 3 * time.Second
	r := newClaimRun(t)
	began := time.Now()
	for i := range 3 {
		r.start(t, fmt.Sprint("r", i), interval, expiration)
	}
	took, counts := r.waitOwned(t, began, 2*interval, expiration, "r0", "r1", "r2")
	t.Logf("3 replicas starting together own all %d partitions after %s: %v", claimPartitions, took.Round(time.Millisecond), counts)
	// Balanced: a round later nobody holds more than its share, with
	// nothing taken from anyone in between.
	deadline := time.Now().Add(3 * interval)
	for {
		own := r.owners(t, expiration)
		n := map[string]int{}
		for _, o := range own {
			n[o]++
		}
		if len(own) == claimPartitions && n["r0"] >= 2 && n["r1"] >= 2 && n["r2"] >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not balanced after %s: %v", 3*interval, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkAllOwned measures how long n replicas started together take
// until every partition of an 8-partition hub has an owner, at a 1 s
// update interval, SQLite store (reported as s/owned):
//
//	go test -run x -bench AllOwned -benchtime 1x -count 5 ./ownership/
func BenchmarkAllOwned(b *testing.B) {
	const interval, expiration = time.Second, 3 * time.Second
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprint(n, "replicas"), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				r := newClaimRun(b)
				began := time.Now()
				var live []string
				for k := range n {
					live = append(live, fmt.Sprint("r", k))
					r.start(b, live[k], interval, expiration)
				}
				took, _ := r.waitOwned(b, began, 30*time.Second, expiration, live...)
				total += took
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/owned")
			b.ReportMetric(0, "ns/op")
		})
	}
}
