package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newFencedContext(t *testing.T, lease time.Duration) *Context {
	t.Helper()
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, BatchLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDirStoreFence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, _ := NewDirStore(dir)
	b, _ := NewDirStore(dir)
	plan := func(batch int64, who string, done bool) *Checkpoint {
		return &Checkpoint{Version: checkpointVersion, Batch: batch, Done: done, Instance: who}
	}
	if err := a.SaveAs(ctx, "a", plan(1, "a", true)); err != nil {
		t.Fatalf("a directory never fenced refused a save: %v", err)
	}
	if err := a.Fence(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveAs(ctx, "a", plan(2, "a", false)); err != nil {
		t.Fatalf("the writer's plan: %v", err)
	}
	if err := b.Fence(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	var fe *FencedError
	if err := a.SaveAs(ctx, "a", plan(3, "a", false)); !errors.As(err, &fe) || fe.Writer != "b" || fe.Instance != "a" {
		t.Fatalf("a plan after another instance fenced the store: %v, want a *FencedError naming b", err)
	}
	// The error names the directory, and the other process where the
	// instance ID says which.
	if err := b.Fence(ctx, "host-a-1234-0badf00d"); err != nil {
		t.Fatal(err)
	}
	err := a.SaveAs(ctx, "other-host-99-00c0ffee", plan(4, "a", false))
	for _, want := range []string{dir, "process 1234 on host-a", "process 99 on other-host"} {
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("a plan refused by the fence: %v; want it to name %q", err, want)
		}
	}
	if err := b.Fence(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveAs(ctx, "a", plan(2, "a", false)); err != nil {
		t.Fatalf("renewing the batch in flight after the fence: %v", err)
	}
	if err := a.SaveAs(ctx, "a", plan(2, "a", true)); err != nil {
		t.Fatalf("marking the batch in flight done after the fence: %v", err)
	}
	if err := a.SaveAs(ctx, "a", plan(2, "a", true)); !errors.As(err, &fe) {
		t.Fatalf("a save once the batch in flight is done: %v, want a *FencedError", err)
	}
	if err := b.SaveAs(ctx, "b", plan(3, "b", false)); err != nil {
		t.Fatalf("the new writer's plan: %v", err)
	}
	if ck, _ := b.Load(ctx); ck.Batch != 3 || ck.Instance != "b" {
		t.Errorf("stored %+v, want b's batch 3", ck)
	}
	os.WriteFile(filepath.Join(dir, writerFile), []byte("{"), 0o644)
	var ce *CheckpointError
	if err := a.SaveAs(ctx, "a", plan(4, "a", false)); !errors.As(err, &ce) {
		t.Errorf("a damaged writer record: %v, want a *CheckpointError naming it", err)
	}
}

// Two instances of a job on one fenced store: the newer one waits for the
// older one's batch in flight (past the lease, which the batch renews),
// then starts where it ended; the older one stops at its next plan. No
// batch runs in both.
func TestNewerInstanceWaitsForTheBatchInFlight(t *testing.T) {
	dir := t.TempDir()
	storeA, _ := NewDirStore(dir)
	storeB, _ := NewDirStore(dir)
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }

	older := newFencedContext(t, 150*time.Millisecond)
	inA := newFake()
	inFlight, release := make(chan struct{}), make(chan struct{})
	inA.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 3 {
			close(inFlight)
			<-release
			note("older done 3")
		}
		return nil
	}
	older.Checkpoint(storeA)
	older.AddInput(inA)
	olderDone := run(t, older)
	<-inFlight

	newer := newFencedContext(t, 150*time.Millisecond)
	inB := &claimingInput{fakeInput: newFake(), note: func(string) { note("newer claims") }}
	inB.run = func(ctx context.Context, b *Batch) error {
		if b.Number >= 5 {
			newer.Stop(true)
		}
		return nil
	}
	newer.Checkpoint(storeB)
	newer.AddInput(inB)
	newerDone := run(t, newer)

	waitFor(t, "the newer instance to fence the store", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, writerFile))
		var w writerRecord
		return json.Unmarshal(b, &w) == nil && w.Instance == newer.Instance()
	})
	// The batch renews its lease: wait until it outlived the first one.
	ck, _ := storeA.Load(context.Background())
	first := ck.Lease
	waitFor(t, "the batch in flight to outlive its first lease", func() bool {
		ck, _ := storeA.Load(context.Background())
		return ck.Lease.After(first) && time.Now().After(first.Add(50*time.Millisecond))
	})
	mu.Lock()
	early := len(order)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("the newer instance took its sources while the older one's batch ran: %v", order)
	}
	close(release)

	var fe *FencedError
	if err := <-olderDone; !errors.As(err, &fe) || fe.Writer != newer.Instance() {
		t.Fatalf("the older instance ended with %v, want a *FencedError naming the newer one", err)
	}
	if err := <-newerDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) < 2 || order[0] != "older done 3" || order[1] != "newer claims" {
		t.Errorf("events in the order %v, want the older batch done before the newer instance claims", order)
	}
	if got := len(inA.seen()); got != 3 {
		t.Errorf("the older instance ran %d batches, want 3: it stops at its next plan", got)
	}
	b := inB.seen()
	if len(b) == 0 || b[0].Replay || b[0].Number != 4 || b[0].Ranges[0].From != 30 {
		t.Errorf("the newer instance's first batch: %+v; want batch 4 from 30, no replay", b)
	}
}

// An instance that died mid-batch stops renewing its lease: the next one
// waits for the lease to end, then runs the batch again.
func TestNewerInstanceRunsADeadInstancesBatchAfterItsLease(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	lease := time.Now().Add(300 * time.Millisecond)
	dead := &Checkpoint{Version: checkpointVersion, Batch: 3, Instance: "dead", Lease: lease,
		Inputs: []InputCheckpoint{{Identity: newFake().id, Ranges: []Range{{Source: "f", Partition: "0", From: 20, Until: 30}, {Source: "f", Partition: "1", From: 20, Until: 30}}}}}
	if err := store.Save(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	c := newFencedContext(t, time.Hour)
	in := newFake()
	var replayedAt time.Time
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Replay {
			replayedAt = time.Now()
		}
		c.Stop(true)
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	if got := in.seen(); len(got) == 0 || !got[0].Replay || got[0].Number != 3 {
		t.Fatalf("batches %+v, want the dead instance's batch 3 replayed first", got)
	}
	if replayedAt.Before(lease) {
		t.Errorf("the batch ran again %s before the dead instance's lease ended", lease.Sub(replayedAt))
	}
}

// A batch that fails gives its lease up, so the next instance runs it again
// at once rather than after the lease.
func TestFailedBatchGivesItsLeaseUp(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	boom := errors.New("output failed")
	c := newFencedContext(t, time.Hour)
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 {
			return boom
		}
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the output's error", err)
	}
	ck, _ := store.Load(context.Background())
	if ck.Done || ck.Batch != 2 || !ck.Lease.IsZero() {
		t.Fatalf("after the failure: batch %d done %v lease %v; want batch 2 unfinished, no lease", ck.Batch, ck.Done, ck.Lease)
	}
	next := newFencedContext(t, time.Hour)
	in = newFake()
	in.run = func(ctx context.Context, b *Batch) error { next.Stop(true); return nil }
	next.Checkpoint(store)
	next.AddInput(in)
	if err := <-run(t, next); err != nil {
		t.Fatal(err)
	}
	if got := in.seen(); len(got) == 0 || !got[0].Replay || got[0].Number != 2 {
		t.Errorf("batches %+v, want batch 2 replayed", got)
	}
}
