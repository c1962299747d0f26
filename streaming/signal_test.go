package streaming

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A signal during a slow batch lets it finish: output, checkpoint and
// listeners; then Run returns nil and no other batch starts.
func TestRunUntilSignalFinishesTheRunningBatch(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	running, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	in.run = func(ctx context.Context, b *Batch) error {
		once.Do(func() { close(running) })
		<-release
		return nil
	}
	var mu sync.Mutex
	var completed []int64
	c.AddListener(ListenerFunc(func(b BatchInfo) {
		mu.Lock()
		completed = append(completed, b.Number)
		mu.Unlock()
	}))
	c.Checkpoint(store)
	c.AddInput(in)
	done := make(chan error, 1)
	go func() { done <- c.RunUntilSignal(context.Background(), syscall.SIGUSR1) }()
	<-running
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stop to be asked", c.stopped)
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunUntilSignal after one signal: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunUntilSignal did not return within 10s of the batch finishing")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(completed) != 1 || completed[0] != 1 || len(in.seen()) != 1 {
		t.Errorf("completed batches %v, batches run %d: want batch 1 finished and no other", completed, len(in.seen()))
	}
	if ck, err := store.Load(context.Background()); err != nil || ck == nil || ck.Batch != 1 || !ck.Done {
		t.Errorf("checkpoint %+v (%v): want batch 1 done", ck, err)
	}
}

// A second signal stops at once: the running batch is cancelled and not
// marked done, so it runs again after a restart.
func TestRunUntilSignalSecondSignalStopsAtOnce(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	running := make(chan struct{})
	var once sync.Once
	in.run = func(ctx context.Context, b *Batch) error {
		once.Do(func() { close(running) })
		<-ctx.Done() // a batch that honours cancellation, and never ends by itself
		return ctx.Err()
	}
	c.Checkpoint(store)
	c.AddInput(in)
	done := make(chan error, 1)
	go func() { done <- c.RunUntilSignal(context.Background(), syscall.SIGUSR1) }()
	<-running
	syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)
	waitFor(t, "the first stop", c.stopped)
	syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunUntilSignal after two signals: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not stop the stream within 10s")
	}
	if ck, err := store.Load(context.Background()); err != nil || ck == nil || ck.Batch != 1 || ck.Done {
		t.Errorf("checkpoint %+v (%v): want batch 1 planned and not done", ck, err)
	}
}

// Cancelling Run's context is an immediate stop, and the log says which
// batch it abandoned.
func TestContextCancelLogsTheAbandonedBatch(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	in := newFake()
	running := make(chan struct{})
	var once sync.Once
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 {
			once.Do(func() { close(running) })
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	c.AddInput(in)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-running
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if out := logs.String(); !strings.Contains(out, "abandoned") || !strings.Contains(out, "batch=2") {
		t.Errorf("log after cancelling during batch 2:\n%s\nwant a line saying batch 2 was abandoned", out)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// With SkipEmptyBatches an idle stream runs its outputs only for batches
// that hold something new for them: the first (its positions), one with a
// new partition, and one that reads. Listeners hear of every batch.
func TestSkipEmptyBatches(t *testing.T) {
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, SkipEmptyBatches: true})
	if err != nil {
		t.Fatal(err)
	}
	in := newFake()
	in.rate = 0
	var mu sync.Mutex
	var heard []int64
	c.AddListener(ListenerFunc(func(b BatchInfo) {
		mu.Lock()
		heard = append(heard, b.Number)
		n := b.Number
		mu.Unlock()
		in.mu.Lock()
		defer in.mu.Unlock()
		switch n {
		case 4:
			in.extra, in.next["2"] = true, 7 // a partition appears
		case 7:
			in.rate = 3 // events arrive
		case 8:
			in.rate = 0
		case 12:
			c.Stop(true)
		}
	}))
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	var ran []int64
	for _, b := range in.seen() {
		ran = append(ran, b.Number)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 12 {
		t.Errorf("listeners heard of batches %v, want 1 to 12", heard)
	}
	if want := []int64{1, 5, 8}; !equalInts(ran, want) {
		t.Errorf("outputs ran for batches %v, want %v: the first, the one with a new partition, the one that read", ran, want)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
