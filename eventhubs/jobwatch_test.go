package eventhubs_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// views keeps the views a watch handed over.
type views struct {
	mu  sync.Mutex
	all []eventhubs.JobView
}

func (v *views) add(jv eventhubs.JobView) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.all = append(v.all, jv)
}

func (v *views) last() eventhubs.JobView {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.all) == 0 {
		return eventhubs.JobView{}
	}
	return v.all[len(v.all)-1]
}

// A replica's watch sees every partition with its owner, as the ownership
// records say, and counts its rounds; while the store is down it says so,
// counts the failed rounds, and claims nothing of the owners; once the
// store is back, it reads them again.
func TestWatchJobOfAReplica(t *testing.T) {
	const interval = 100 * time.Millisecond
	srv := startEmulator(t, emulator.HubConfig{Name: "own", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	store := openFailingStore(t, ctx)
	ssc := newSSC(t, 20*time.Millisecond)
	// A warning per batch while the store is down.
	ds, err := eventhubs.CreateDirectStream(ssc, testConf(srv, "own").SetLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { _, err := rdd.Collect(ctx); return err })
	if err := ds.SetOwnershipStore(store, &eventhubs.OwnershipOptions{OwnerID: "a", UpdateInterval: interval, Expiration: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	seen := &views{}
	if err := ds.WatchJob(seen.add, nil); err != nil {
		t.Fatal(err)
	}
	runSSC(t, ctx, ssc)
	owned := func(v eventhubs.JobView) bool {
		if !v.Owners || len(v.Partitions) != 2 || v.Err != nil {
			return false
		}
		for _, p := range v.Partitions {
			if p.Owner != "a" || !p.Live || time.Since(p.Changed) > time.Second {
				return false
			}
		}
		return true
	}
	waitFor(t, 30*time.Second, "a view of both partitions owned by a", func() bool { v := seen.last(); return owned(v) })
	if v := seen.last(); v.OwnerID != "a" || v.UpdateInterval != interval || v.Expiration != 5*time.Second || v.Renewals < 1 || v.Hub != "own" {
		t.Errorf("view %+v; want a's, with the protocol's interval and expiration and its renewals", v)
	}

	store.down.Store(true)
	var down eventhubs.JobView
	waitFor(t, 30*time.Second, "a view while the store is down", func() bool {
		down = seen.last()
		return down.FailedRenewals > 0 && !down.Owners && down.Err != nil
	})
	if !strings.Contains(down.Err.Error(), "listing the ownership records") || len(down.Partitions) != 2 {
		t.Errorf("view while the store is down: %+v; want the hub's partitions and the listing's error", down)
	}
	store.down.Store(false)
	waitFor(t, 30*time.Second, "a view once the store is back", func() bool { v := seen.last(); return owned(v) })
}
