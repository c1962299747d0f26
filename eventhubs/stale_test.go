package eventhubs_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	_ "modernc.org/sqlite"
)

// A run killed a moment before can commit after the restarted stream read
// its positions: the restarted stream's first batch then finds the stored
// position moved (offsets.MismatchError). With SetStoredPositions it rolls
// that batch back, reads the position anew and goes on, and every event is
// processed once.
func TestStaleBatchIsPlannedAgainFromTheStoredPosition(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "late", PartitionCount: 1})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "late", "0", 0, 300)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf := testConf(srv, "late").SetMaxRatePerPartition(150)
	job, err := offsets.JobFor("late", conf)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(ctx context.Context, ranges []eventhubs.OffsetRange) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := store.CommitOffsets(ctx, tx, job, ranges); err != nil {
			return err
		}
		return tx.Commit()
	}

	ssc := newSSC(t, 10*time.Millisecond)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	late := true
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		if late {
			// The killed run's batch [0, 100) commits now, its events with it.
			late = false
			if err := commit(ctx, []eventhubs.OffsetRange{{Name: "late", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100}}); err != nil {
				return err
			}
			mu.Lock()
			for i := range int64(100) {
				seen[i]++
			}
			mu.Unlock()
		}
		evs, err := rdd.Collect(ctx)
		if err != nil {
			return err
		}
		if err := commit(ctx, rdd.OffsetRanges()); err != nil {
			return err // rolled back: none of evs counts
		}
		mu.Lock()
		for _, ev := range evs {
			seen[ev.SequenceNumber]++
		}
		mu.Unlock()
		return nil
	})
	ds.SetStoredPositions(func(ctx context.Context, ids []string) (map[string]int64, error) {
		ps, err := store.Positions(ctx, job)
		out := map[string]int64{}
		for _, p := range ps {
			out[p.Partition] = p.Next
		}
		return out, err
	})
	done := runSSC(t, ctx, ssc)
	waitWhileRunning(t, 30*time.Second, "every event", done, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 300
	})
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	for i := range int64(300) {
		if seen[i] != 1 {
			t.Errorf("event %d processed %d times, want once", i, seen[i])
		}
	}
}
