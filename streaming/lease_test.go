package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// leaseRunsOut runs a fenced stream whose batch 2 waits in its output,
// and blocks the instance's lease renewals (the checkpoint directory's
// lock held, as by a process stopped while it held it) until the lease
// ran out by the clock. It returns the store, the Context's result, and
// unlock, which lets the store answer again. then, run by the output once
// the lease ran out, says what the output returns.
func leaseRunsOut(t *testing.T, then func(ctx context.Context) error) (store *DirStore, done <-chan error, unlock func()) {
	t.Helper()
	dir := t.TempDir()
	store, _ = NewDirStore(dir)
	c := newFencedContext(t, 150*time.Millisecond)
	inFlight, ranOut := make(chan struct{}), make(chan struct{})
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number != 2 {
			return nil
		}
		close(inFlight)
		<-ranOut
		return then(ctx)
	}
	c.Checkpoint(store)
	c.AddInput(in)
	done = run(t, c)
	<-inFlight
	lock := flock.New(filepath.Join(dir, lockFile))
	if err := lock.Lock(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	ck, err := store.Load(context.Background())
	if err != nil || ck.Batch != 2 || ck.Lease.IsZero() {
		t.Fatalf("the checkpoint of batch 2 in flight: %+v, %v", ck, err)
	}
	// Renewals already under way when the lock was taken may still land.
	waitFor(t, "the lease to run out", func() bool {
		ck, err := store.Load(context.Background())
		return err == nil && time.Now().After(ck.Lease.Add(20*time.Millisecond))
	})
	close(ranOut)
	return store, done, func() { lock.Close() }
}

// A batch whose lease ran out, then renewed by no one else, goes on:
// CheckFence renews it, since no other instance fenced the store.
func TestCheckFenceRenewsALeaseNoOneTook(t *testing.T) {
	checked := make(chan error, 1)
	store, done, unlock := leaseRunsOut(t, func(ctx context.Context) error {
		err := CheckFence(ctx)
		checked <- err
		return err
	})
	unlock()
	if err := <-checked; err != nil {
		t.Fatalf("CheckFence = %v, want nil: no other instance fenced the store", err)
	}
	waitFor(t, "batch 2 done", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run ended: %v", err)
		default:
		}
		ck, err := store.Load(context.Background())
		return err == nil && (ck.Batch > 2 || ck.Done)
	})
}

// While the store cannot be reached, a batch whose lease ran out is
// another's for all this instance knows: CheckFence says so, and the batch
// ends with the error.
func TestCheckFenceWhenTheLeaseRanOutAndTheStoreIsOutOfReach(t *testing.T) {
	checked := make(chan error, 1)
	_, done, unlock := leaseRunsOut(t, func(ctx context.Context) error {
		err := CheckFence(ctx)
		checked <- err
		return err
	})
	defer unlock()
	var fe *FencedError
	if err := <-checked; !errors.As(err, &fe) || fe.LeaseEnded.IsZero() || fe.Batch != 2 || fe.Err == nil {
		t.Fatalf("CheckFence = %v, want a *FencedError saying batch 2's lease ran out, with the store's error", err)
	}
	t.Log(fe)
	unlock()
	if err := <-done; !errors.As(err, &fe) {
		t.Errorf("Run = %v, want the *FencedError", err)
	}
}

// Once another instance fenced the store after the lease ran out, the
// batch is its: the renewal it refuses cancels the batch's context with
// the *FencedError as the cause, and CheckFence returns it.
func TestAnotherInstanceTakingTheBatchCancelsIt(t *testing.T) {
	cause, checked := make(chan error, 1), make(chan error, 1)
	store, done, unlock := leaseRunsOut(t, func(ctx context.Context) error {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		checked <- CheckFence(ctx)
		return ctx.Err()
	})
	// What Fence does, under the lock the test holds: no renewal of the
	// older instance comes between the lease's end and the fence.
	w, _ := json.Marshal(writerRecord{Instance: "newer", Since: time.Now()})
	if err := store.replace(writerFile, "checkpoint", w); err != nil {
		t.Fatal(err)
	}
	unlock()
	var fe *FencedError
	select {
	case err := <-cause:
		if !errors.As(err, &fe) || fe.Writer != "newer" {
			t.Fatalf("the batch's context ended with %v, want a *FencedError naming the newer instance", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was not cancelled within 10s of another instance fencing the store")
	}
	if err := <-checked; !errors.As(err, &fe) || fe.Writer != "newer" {
		t.Errorf("CheckFence = %v, want the *FencedError", err)
	}
	if err := <-done; !errors.As(err, &fe) || !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want the output's error and the *FencedError that caused it", err)
	}
}

// An instance whose lease ran out can neither renew nor finish its batch
// once another instance fenced the store: that one may be running it.
func TestDirStoreRefusesTheBatchOfAnExpiredLease(t *testing.T) {
	ctx := context.Background()
	s, _ := NewDirStore(t.TempDir())
	if err := s.Fence(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	plan := &Checkpoint{Version: checkpointVersion, Batch: 2, Instance: "a", Lease: time.Now().Add(time.Hour)}
	if err := s.SaveAs(ctx, "a", plan); err != nil {
		t.Fatal(err)
	}
	if err := s.Fence(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	renewed := *plan
	renewed.Lease = time.Now().Add(-time.Millisecond)
	if err := s.SaveAs(ctx, "a", &renewed); err != nil {
		t.Fatalf("renewing the batch in flight while its lease lasts: %v", err)
	}
	var fe *FencedError
	for _, done := range []bool{false, true} {
		late := *plan
		late.Done = done
		if err := s.SaveAs(ctx, "a", &late); !errors.As(err, &fe) || fe.Writer != "b" {
			t.Errorf("a save (done %v) of the batch whose lease ran out: %v, want a *FencedError naming b", done, err)
		}
	}
}
