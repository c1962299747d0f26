package eventhubs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// A direct stream with default timeouts reads again within a few seconds
// of its connection being dropped: the time from the drop to the next
// event handed out.
func TestDirectStreamRecoversFromADropQuickly(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "drop", PartitionCount: 2})
	ctx := testCtx(t, 120*time.Second)
	fill(t, ctx, srv, "drop", "0", 0, 10)
	ssc := newSSC(t, 50*time.Millisecond)
	ds, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(srv.ConnectionString("drop")))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last time.Time
	count := 0
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		evs, err := rdd.Collect(ctx)
		mu.Lock()
		defer mu.Unlock()
		if len(evs) > 0 {
			count += len(evs)
			last = time.Now()
		}
		return err
	})
	done := runSSC(t, ctx, ssc)
	waitFor(t, 30*time.Second, "the first events", func() bool { mu.Lock(); defer mu.Unlock(); return count == 10 })
	for round := range 3 {
		if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultDropConnections}); err != nil {
			t.Fatal(err)
		}
		dropped := time.Now()
		fill(t, ctx, srv, "drop", "0", 10+round*10, 10)
		want := 20 + round*10
		waitWhileRunning(t, 60*time.Second, "the events after the drop", done, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return count == want
		})
		mu.Lock()
		took := last.Sub(dropped)
		mu.Unlock()
		t.Logf("drop %d: events handed out again %s after it", round+1, took.Round(time.Millisecond))
		if took > 3*time.Second {
			t.Errorf("drop %d: the stream read again %s after the drop, want within 3s", round+1, took.Round(time.Millisecond))
		}
	}
}
