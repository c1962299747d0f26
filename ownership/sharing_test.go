package ownership_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/streaming"
)

const sharedPartitions = 4

// fillShared sends n events to each partition of hub "orders".
func fillShared(t *testing.T, ctx context.Context, srv *emulator.Server, n int) {
	fillBodies(t, ctx, srv, 0, n, func(int) []byte { return []byte("x") })
}

// fillBodies sends events [from, from+n) to each partition of hub
// "orders", event i's body made by body(i).
func fillBodies(t *testing.T, ctx context.Context, srv *emulator.Server, from, n int, body func(i int) []byte) {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("orders"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	for part := range sharedPartitions {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(fmt.Sprint(part))})
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: body(i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// replica is an ehstream direct stream sharing hub "orders" through store:
// its output commits positions to the offsets store and notes the
// sequence numbers it saw.
type replica struct {
	mu   sync.Mutex
	seen map[string][]int64
	ssc  *streaming.Context
	done chan error
}

func startReplica(t *testing.T, srv *emulator.Server, store azeventhubs.CheckpointStore, db *sql.DB, positions *offsets.Store, job offsets.Job, writeCheckpoints bool) *replica {
	t.Helper()
	r := &replica{seen: map[string][]int64{}, done: make(chan error, 1)}
	var err error
	if r.ssc, err = streaming.NewContext(50*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true}); err != nil {
		t.Fatal(err)
	}
	conf := eventhubs.NewConf(srv.ConnectionString("orders")).SetMaxRatePerPartition(100).SetReceiverTimeout(5 * time.Second)
	ds, err := eventhubs.CreateDirectStream(r.ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		var mu sync.Mutex
		got := map[string][]int64{}
		err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			for ev, err := range p.Events() {
				if err != nil {
					return err
				}
				mu.Lock()
				got[ev.PartitionID] = append(got[ev.PartitionID], ev.SequenceNumber)
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := positions.CommitOffsets(ctx, tx, job, rdd.OffsetRanges()); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		r.mu.Lock()
		for p, s := range got {
			r.seen[p] = append(r.seen[p], s...)
		}
		r.mu.Unlock()
		return nil
	})
	err = ds.SetOwnershipStore(store, &eventhubs.OwnershipOptions{
		OwnerID: "ehstream", UpdateInterval: 200 * time.Millisecond, Expiration: 3 * time.Second, WriteCheckpoints: writeCheckpoints,
		Positions: func(ctx context.Context, ids []string) (map[string]int64, error) {
			ps, err := positions.Positions(ctx, job)
			out := map[string]int64{}
			for _, p := range ps {
				out[p.Partition] = p.Next
			}
			return out, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.run(t)
	return r
}

// run runs the replica's Context until the test ends.
func (r *replica) run(t *testing.T) {
	go func() { r.done <- r.ssc.Run(context.Background()) }()
	t.Cleanup(func() {
		r.ssc.Stop(false)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// A stock azeventhubs.Processor joins a consumer group an ehstream replica
// reads alone: the two balance through the store, the processor starts
// each partition it gets where ehstream's positions say, and ehstream goes
// on with the others.
func testProcessorSharesWithReplica(t *testing.T, store azeventhubs.CheckpointStore, db *sql.DB, positions *offsets.Store, writeCheckpoints bool) {
	ctx := testCtx(t, 120*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: sharedPartitions}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()); srv.Close() })
	fillShared(t, ctx, srv, 200)
	job, err := offsets.JobFor("mixed-job", eventhubs.NewConf(srv.ConnectionString("orders")))
	if err != nil {
		t.Fatal(err)
	}
	rep := startReplica(t, srv, store, db, positions, job, writeCheckpoints)
	waitPositions := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ps, err := positions.Positions(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, p := range ps {
				if p.Next == want {
					n++
				}
			}
			if n == sharedPartitions {
				return
			}
			select {
			case err := <-rep.done:
				t.Fatalf("the replica stopped: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("positions %+v, want all at %d", ps, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPositions(200) // ehstream alone read everything

	c, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString("orders"), "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	proc, err := azeventhubs.NewProcessor(c, store, &azeventhubs.ProcessorOptions{
		UpdateInterval: 200 * time.Millisecond, PartitionExpirationDuration: 3 * time.Second,
		StartPositions: azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: to.Ptr(true)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go proc.Run(runCtx)
	var mu sync.Mutex
	firsts := map[string]int64{}
	stolen := 0 // processor links ehstream took
	go func() {
		for {
			pc := proc.NextPartitionClient(runCtx)
			if pc == nil {
				return
			}
			go func() {
				defer pc.Close(context.Background())
				first := true
				for {
					evs, err := pc.ReceiveEvents(runCtx, 50, nil)
					if len(evs) > 0 {
						if first {
							mu.Lock()
							firsts[pc.PartitionID()] = evs[0].SequenceNumber
							mu.Unlock()
							first = false
						}
						pc.UpdateCheckpoint(runCtx, evs[len(evs)-1], nil)
					}
					if e := (*azeventhubs.Error)(nil); errors.As(err, &e) && e.Code == azeventhubs.ErrorCodeOwnershipLost && runCtx.Err() == nil {
						mu.Lock()
						stolen++
						mu.Unlock()
					}
					if err != nil {
						// Ownership lost, or the test ends: a stock
						// processor's user closes the client, and the
						// processor offers the partition again once it
						// claims it.
						return
					}
				}
			}()
		}
	}()

	fqn := srv.Addr()
	deadline := time.Now().Add(30 * time.Second)
	var owners map[string]string
	for {
		owners = ownersOf(t, store, fqn)
		n := map[string]int{}
		for _, o := range owners {
			n[o]++
		}
		if len(owners) == sharedPartitions && n["ehstream"] == 2 && n["ehstream"]+len(n) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the records %v, want ehstream and the processor two partitions each", owners)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fillShared(t, ctx, srv, 50)
	deadline = time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(firsts)
		mu.Unlock()
		if got == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the processor received first events of %d partitions, want 2: %v (owners %v)", got, firsts, owners)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if stolen > 0 {
		t.Errorf("ehstream took the link of a partition the processor had claimed %d times: it must drop a taken partition until the records say it is its own", stolen)
	}
	for p, seq := range firsts {
		if owners[p] == "ehstream" {
			t.Errorf("the processor read partition %s, which the records give to ehstream", p)
		}
		if seq != 200 {
			t.Errorf("the processor started partition %s at %d, want 200, where ehstream's position is", p, seq)
		}
	}
	mu.Unlock()
	// ehstream goes on with its partitions, and saw each event once.
	deadline = time.Now().Add(30 * time.Second)
	for {
		rep.mu.Lock()
		n := 0
		for p, o := range owners {
			if o == "ehstream" && slices.Contains(rep.seen[p], 249) {
				n++
			}
		}
		rep.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ehstream did not read its partitions' new events (owners %v)", owners)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	for p, seqs := range rep.seen {
		s := slices.Clone(seqs)
		slices.Sort(s)
		if len(slices.Compact(s)) != len(seqs) {
			t.Errorf("ehstream saw an event of partition %s twice", p)
		}
	}
	t.Logf("owners %v; the processor started at %v", owners, firsts)
}

func TestProcessorSharesWithReplicaPostgres(t *testing.T) {
	db := openPostgres(t)
	positions, store := sqlStores(t, db, "mixed-job")
	testProcessorSharesWithReplica(t, store, db, positions, false)
}

func TestProcessorSharesWithReplicaBlob(t *testing.T) {
	store, _ := blobStore(t)
	db := openSQLite(t)
	positions, err := offsets.Open(testCtx(t, 30*time.Second), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	testProcessorSharesWithReplica(t, store, db, positions, true)
}

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
			ok = ok && slices.Contains(live, o)
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
