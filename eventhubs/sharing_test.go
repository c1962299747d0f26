package eventhubs_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/streaming"
)

// A replica whose ownership store goes down while it runs goes on with
// the partitions it owns while its claims stand, so that a blip costs
// nothing; once no round has renewed them for the expiration they have
// lapsed, and the stream stops with CodeOwnershipStore and the store's
// error in the chain.
func TestSharedStreamStopsOnceTheStoreOutlastsItsClaims(t *testing.T) {
	const interval, expiration, blip = 100 * time.Millisecond, 2 * time.Second, 500 * time.Millisecond
	srv := startEmulator(t, emulator.HubConfig{Name: "own", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	store := openFailingStore(t, ctx)
	run := sharedStream(t, srv, store, &eventhubs.OwnershipOptions{OwnerID: "a", UpdateInterval: interval, Expiration: expiration})
	done := runSSC(t, ctx, run.ssc)
	fill(t, ctx, srv, "own", "0", 0, 5)
	fill(t, ctx, srv, "own", "1", 0, 5)
	waitWhileRunning(t, 30*time.Second, "the events of both partitions", done, func() bool { return run.read.Load() == 10 })

	// A blip shorter than the claims' life: the stream reads on.
	store.down.Store(true)
	time.Sleep(blip)
	store.down.Store(false)
	fill(t, ctx, srv, "own", "1", 5, 5)
	waitWhileRunning(t, 30*time.Second, "the events sent after the blip", done, func() bool { return run.read.Load() == 15 })
	claims := store.claims.Load()
	waitWhileRunning(t, 30*time.Second, "a round that renews the claims", done, func() bool { return store.claims.Load() > claims })

	// An outage that outlasts them stops the stream, not sooner.
	down := time.Now()
	store.down.Store(true)
	batches := run.batches.Load()
	waitWhileRunning(t, expiration/2, "batches while the store is down", done, func() bool { return run.batches.Load() > batches+3 })
	err := waitRun(t, done)
	took := time.Since(down)
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeOwnershipStore {
		t.Fatalf("the stream stopped with %v, want a %s error", err, eventhubs.CodeOwnershipStore)
	}
	if !errors.Is(err, errStoreDown) {
		t.Errorf("the error %v does not hold the store's error in its chain", err)
	}
	if took < expiration-4*interval || took > expiration+5*time.Second {
		t.Errorf("the stream stopped %s after the store went down, want about the expiration, %s: %v", took, expiration, err)
	}
}

// A store that fails the first round, or the positions of the partitions
// a replica starts with, stops the stream at once with CodeOwnershipStore
// and the failure in the chain.
func TestSharedStreamStartsOnlyWithItsStore(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "own", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	errPositions := errors.New("the offsets table is gone")
	for _, tc := range []struct {
		name  string
		down  bool
		opts  eventhubs.OwnershipOptions
		cause error
	}{
		{"first round", true, eventhubs.OwnershipOptions{}, errStoreDown},
		{"positions", false, eventhubs.OwnershipOptions{Positions: func(context.Context, []string) (map[string]int64, error) { return nil, errPositions }}, errPositions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openFailingStore(t, ctx)
			store.down.Store(tc.down)
			tc.opts.OwnerID, tc.opts.UpdateInterval, tc.opts.Expiration = "a", 100*time.Millisecond, 2*time.Second
			err := waitRun(t, runSSC(t, ctx, sharedStream(t, srv, store, &tc.opts).ssc))
			if !eventhubs.HasCode(err, eventhubs.CodeOwnershipStore) || !errors.Is(err, tc.cause) {
				t.Errorf("the stream stopped with %v, want a %s error with %v in its chain", err, eventhubs.CodeOwnershipStore, tc.cause)
			}
		})
	}
}

// A replica that gains a partition while the positions' store is down
// (the database restarting as another replica hands it over) reads on
// with the partitions it had, and starts the new one once the positions
// can be read: a blip shorter than the claims' life stops nothing. An
// outage that outlasts them stops the stream with CodeOwnershipStore and
// the cause in the chain.
func TestSharedStreamGainsAPartitionWhileThePositionsAreDown(t *testing.T) {
	const interval, expiration = 100 * time.Millisecond, 2 * time.Second
	srv := startEmulator(t, emulator.HubConfig{Name: "own", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	store := openFailingStore(t, ctx)
	errPositions := errors.New("the offsets table is restarting")
	var positionsDown atomic.Bool
	positions := func(context.Context, []string) (map[string]int64, error) {
		if positionsDown.Load() {
			return nil, errPositions
		}
		return map[string]int64{}, nil // none stored: from the start
	}
	opts := func(owner string) *eventhubs.OwnershipOptions {
		return &eventhubs.OwnershipOptions{OwnerID: owner, UpdateInterval: interval, Expiration: expiration, Positions: positions}
	}
	a, b := sharedStream(t, srv, store, opts("a")), sharedStream(t, srv, store, opts("b"))
	doneA, doneB := runSSC(t, ctx, a.ssc), runSSC(t, ctx, b.ssc)
	cs, err := eventhubs.ParseConnectionString(srv.ConnectionString("own"))
	if err != nil {
		t.Fatal(err)
	}
	owners := func() map[string]string {
		list, _ := store.ListOwnership(ctx, cs.Namespace(), "own", azeventhubs.DefaultConsumerGroup, nil)
		m := map[string]string{}
		for _, o := range list {
			if o.OwnerID != "" {
				m[o.PartitionID] = o.OwnerID
			}
		}
		return m
	}
	// The events go in once the two have settled on a partition each: one
	// that claimed both at first, and read them, would read again what it
	// hands over.
	waitWhileRunning(t, 30*time.Second, "the two replicas to claim a partition each", doneA, func() bool {
		o := owners()
		return len(o) == 2 && o["0"] != o["1"]
	})
	// a's partition, and the one b has and hands over as it stops.
	mine, theirs := "0", "1"
	if owners()["1"] == "a" {
		mine, theirs = "1", "0"
	}
	fill(t, ctx, srv, "own", "0", 0, 5)
	fill(t, ctx, srv, "own", "1", 0, 5)
	waitWhileRunning(t, 30*time.Second, "the two replicas to read a partition each", doneA, func() bool {
		return a.read.Load() == 5 && b.read.Load() == 5
	})
	if n, _ := a.readOf("p" + mine + "-"); n != 5 {
		t.Fatalf("replica a read %d events of partition %s, its own", n, mine)
	}

	positionsDown.Store(true)
	b.ssc.Stop(true)
	if err := waitRun(t, doneB); err != nil {
		t.Fatalf("replica b stopped with %v", err)
	}
	fill(t, ctx, srv, "own", mine, 5, 5)
	waitWhileRunning(t, 30*time.Second, "replica a to read its partition on while the positions are down", doneA, func() bool {
		n, _ := a.readOf("p" + mine + "-")
		return n == 10
	})
	time.Sleep(expiration / 2) // the blip lasts half the claims' life
	if n, _ := a.readOf("p" + theirs + "-"); n != 0 {
		t.Fatalf("replica a read %d events of the partition it gained while its positions could not be read", n)
	}
	positionsDown.Store(false)
	waitWhileRunning(t, 30*time.Second, "replica a to read the partition it gained", doneA, func() bool {
		n, _ := a.readOf("p" + theirs + "-")
		return n == 5
	})
	if n, again := a.readOf(""); n != 15 || again != 0 {
		t.Errorf("replica a read %d distinct events, %d of them more than once; want 15, each once", n, again)
	}

	// An outage that outlasts the claims stops it: a partition it cannot
	// place is one it cannot read.
	b2 := sharedStream(t, srv, store, opts("b2"))
	doneB2 := runSSC(t, ctx, b2.ssc)
	// A batch of b2's is not enough: it may have claimed nothing yet (its
	// first claim lost to a's renewal), and then hands nothing over.
	b2Owns := func() bool { return slices.Contains(slices.Collect(maps.Values(owners())), "b2") }
	waitWhileRunning(t, 30*time.Second, "replica b2 to take a partition", doneB2, func() bool { return b2.batches.Load() > 0 && a.read.Load() == 15 && b2Owns() })
	positionsDown.Store(true)
	down := time.Now()
	b2.ssc.Stop(true)
	if err := waitRun(t, doneB2); err != nil {
		t.Fatalf("replica b2 stopped with %v", err)
	}
	err = waitRun(t, doneA)
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeOwnershipStore || !errors.Is(err, errPositions) {
		t.Fatalf("replica a stopped with %v, want a %s error with %v in its chain", err, eventhubs.CodeOwnershipStore, errPositions)
	}
	if took := time.Since(down); took < expiration-4*interval {
		t.Errorf("replica a stopped %s after the positions went down, want about the expiration, %s", took, expiration)
	}
}

// sharedRun is a stream of hub "own" that shares its partitions through
// a store, and what its output saw.
type sharedRun struct {
	ssc           *streaming.Context
	read, batches atomic.Int64 // events and batches its output read
	mu            sync.Mutex
	bodies        map[string]int // how often each event body was read
}

// readOf is how many distinct events whose body starts with prefix the
// stream read, and how many of them more than once.
func (r *sharedRun) readOf(prefix string) (distinct, again int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for b, n := range r.bodies {
		if strings.HasPrefix(b, prefix) {
			distinct++
			if n > 1 {
				again++
			}
		}
	}
	return distinct, again
}

func sharedStream(t *testing.T, srv *emulator.Server, store azeventhubs.CheckpointStore, opts *eventhubs.OwnershipOptions) *sharedRun {
	t.Helper()
	run := &sharedRun{ssc: newSSC(t, 20*time.Millisecond), bodies: map[string]int{}}
	conf := testConf(srv, "own").SetLogger(slog.New(slog.DiscardHandler)) // a warning per batch while the store is down
	ds, err := eventhubs.CreateDirectStream(run.ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		evs, err := rdd.Collect(ctx)
		run.read.Add(int64(len(evs)))
		run.batches.Add(1)
		run.mu.Lock()
		for _, ev := range evs {
			run.bodies[string(ev.Body)]++
		}
		run.mu.Unlock()
		return err
	})
	if err := ds.SetOwnershipStore(store, opts); err != nil {
		t.Fatal(err)
	}
	return run
}

var errStoreDown = errors.New("the database went away")

// failingStore is a SQLite ownership store whose every call fails with
// errStoreDown while down is set.
type failingStore struct {
	*ownership.SQLStore
	down   atomic.Bool
	claims atomic.Int64 // calls of ClaimOwnership that succeeded
}

func openFailingStore(t *testing.T, ctx context.Context) *failingStore {
	t.Helper()
	store, closer, err := ownership.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "o.db"), "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer.Close() })
	return &failingStore{SQLStore: store.(*ownership.SQLStore)}
}

func (f *failingStore) fail() error {
	if f.down.Load() {
		return errStoreDown
	}
	return nil
}

func (f *failingStore) ClaimOwnership(ctx context.Context, o []azeventhubs.Ownership, opts *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	got, err := f.SQLStore.ClaimOwnership(ctx, o, opts)
	if err == nil {
		f.claims.Add(1)
	}
	return got, err
}

func (f *failingStore) ListOwnership(ctx context.Context, ns, hub, group string, opts *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.SQLStore.ListOwnership(ctx, ns, hub, group, opts)
}

func (f *failingStore) ListCheckpoints(ctx context.Context, ns, hub, group string, opts *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.SQLStore.ListCheckpoints(ctx, ns, hub, group, opts)
}

func (f *failingStore) SetCheckpoint(ctx context.Context, cp azeventhubs.Checkpoint, opts *azeventhubs.SetCheckpointOptions) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.SQLStore.SetCheckpoint(ctx, cp, opts)
}

func (f *failingStore) OwnershipJobs(ctx context.Context, ns, hub, group string) (map[string]string, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.SQLStore.OwnershipJobs(ctx, ns, hub, group)
}

func (f *failingStore) Now(ctx context.Context) (time.Time, error) {
	if err := f.fail(); err != nil {
		return time.Time{}, err
	}
	return f.SQLStore.Now(ctx)
}

// SetOwnershipStore refuses options the ownership protocol cannot work
// with as a CodeInvalidConf error that keeps the protocol's own error in
// its chain, rather than only its text.
func TestSetOwnershipStoreKeepsTheCause(t *testing.T) {
	ds, err := eventhubs.CreateDirectStream(newSSC(t, time.Second), eventhubs.NewConf(utConnStr))
	if err != nil {
		t.Fatal(err)
	}
	err = ds.SetOwnershipStore(nopStore{}, &eventhubs.OwnershipOptions{UpdateInterval: 2 * time.Second, Expiration: time.Second})
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeInvalidConf {
		t.Fatalf("SetOwnershipStore with an expiration below the interval = %v, want a %s error", err, eventhubs.CodeInvalidConf)
	}
	if e.Err == nil || !strings.Contains(e.Err.Error(), "must exceed the update interval") {
		t.Errorf("the error's cause is %v, want the protocol's error saying the expiration must exceed the update interval", e.Err)
	}
	if errors.Unwrap(err) != e.Err {
		t.Errorf("errors.Unwrap(%v) is not the cause", err)
	}
}

// OwnershipOptions.JoinWindow reaches the protocol: one as long as the
// update interval is refused with the protocol's reason.
func TestOwnershipJoinWindowReachesTheProtocol(t *testing.T) {
	ds, err := eventhubs.CreateDirectStream(newSSC(t, time.Second), eventhubs.NewConf(utConnStr))
	if err != nil {
		t.Fatal(err)
	}
	err = ds.SetOwnershipStore(nopStore{}, &eventhubs.OwnershipOptions{UpdateInterval: 2 * time.Second, JoinWindow: 2 * time.Second})
	if !eventhubs.HasCode(err, eventhubs.CodeInvalidConf) || !strings.Contains(err.Error(), "join window 2s") {
		t.Fatalf("SetOwnershipStore with a join window as long as the interval = %v, want a %s error naming the join window", err, eventhubs.CodeInvalidConf)
	}
	if err := ds.SetOwnershipStore(nopStore{}, &eventhubs.OwnershipOptions{UpdateInterval: 2 * time.Second, JoinWindow: 100 * time.Millisecond}); err != nil {
		t.Fatalf("SetOwnershipStore with a join window of 100ms: %v", err)
	}
}

// utConnStr is a connection string nothing is asked at.
const utConnStr = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=hub"

// nopStore is an ownership store that holds nothing.
type nopStore struct{}

func (nopStore) ClaimOwnership(context.Context, []azeventhubs.Ownership, *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	return nil, nil
}

func (nopStore) ListCheckpoints(context.Context, string, string, string, *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	return nil, nil
}

func (nopStore) ListOwnership(context.Context, string, string, string, *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	return nil, nil
}

func (nopStore) SetCheckpoint(context.Context, azeventhubs.Checkpoint, *azeventhubs.SetCheckpointOptions) error {
	return nil
}

// CheckOwnershipJob refuses a job whose consumer group another job's
// replicas hold, with the balancer's *OtherJobError, before it claims
// anything; the holding job itself, a store without claims and a store
// that records no job pass.
func TestCheckOwnershipJob(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	conf := eventhubs.NewConf("Endpoint=sb://localhost:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=orders")
	spec := "sqlite:" + filepath.Join(t.TempDir(), "o.db")
	open := func(job string) azeventhubs.CheckpointStore {
		store, closer, err := ownership.Open(ctx, spec, job, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closer.Close() })
		return store
	}
	archive, audit := open("archive"), open("audit")
	if err := eventhubs.CheckOwnershipJob(ctx, conf, audit, nil); err != nil {
		t.Fatalf("CheckOwnershipJob with no claims = %v, want nil", err)
	}
	b, err := balance.New(archive, balance.Consumer{Namespace: "localhost:5672", EventHub: "orders", ConsumerGroup: "$Default"}, "archive-1", &balance.Options{Strategy: balance.Greedy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Round(ctx, []string{"0", "1"}); err != nil {
		t.Fatal(err)
	}
	var other *balance.OtherJobError
	if err := eventhubs.CheckOwnershipJob(ctx, conf, audit, &eventhubs.OwnershipOptions{OwnerID: "audit-1"}); !errors.As(err, &other) || other.Other != "archive" {
		t.Errorf("CheckOwnershipJob of audit = %v, want an *OtherJobError naming archive", err)
	}
	if claims, err := audit.ListOwnership(ctx, "localhost:5672", "orders", "$Default", nil); err != nil || len(claims) != 2 || claims[0].OwnerID != "archive-1" {
		t.Errorf("after the check: claims %+v (%v), want archive-1's two alone", claims, err)
	}
	if err := eventhubs.CheckOwnershipJob(ctx, conf, archive, nil); err != nil {
		t.Errorf("CheckOwnershipJob of archive = %v, want nil", err)
	}
	if err := eventhubs.CheckOwnershipJob(ctx, conf, nil, nil); !eventhubs.HasCode(err, eventhubs.CodeInvalidConf) {
		t.Errorf("CheckOwnershipJob of a nil store = %v, want %s", err, eventhubs.CodeInvalidConf)
	}
	bad := &eventhubs.OwnershipOptions{UpdateInterval: time.Minute, Expiration: time.Second}
	if err := eventhubs.CheckOwnershipJob(ctx, conf, audit, bad); !eventhubs.HasCode(err, eventhubs.CodeInvalidConf) {
		t.Errorf("CheckOwnershipJob with an expiration below the interval = %v, want %s", err, eventhubs.CodeInvalidConf)
	}
}
