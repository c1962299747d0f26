package streaming

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeInput plans `rate` sequence numbers per batch for two partitions and
// records what it is asked to do. Unit tests only: the Event Hubs input is
// tested against the emulator in package eventhubs.
type fakeInput struct {
	id   Identity
	rate int64
	// run, when set, is called by Run.
	run func(ctx context.Context, b *Batch) error

	mu      sync.Mutex
	resume  map[string]int64
	next    map[string]int64
	batches []Batch
	running atomic.Int32
	overlap atomic.Bool
	stopped bool
	extra   bool  // plan partition "2" as well: one found while running
	reset   int64 // when set, the next plan resets partition "0" from it
}

func newFake() *fakeInput {
	return &fakeInput{id: Identity{"kind": "fake", "name": "f"}, rate: 10}
}

func (f *fakeInput) Identity() Identity { return f.id }

func (f *fakeInput) Start(ctx context.Context, resume map[string]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resume = resume
	f.next = map[string]int64{"0": 0, "1": 0}
	for p, s := range resume {
		f.next[p] = s
	}
	return nil
}

func (f *fakeInput) Plan(ctx context.Context, _ time.Time) (Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var p Plan
	ids := []string{"0", "1"}
	if f.extra {
		ids = append(ids, "2")
	}
	for _, id := range ids {
		r := Range{Source: "f", Partition: id, From: f.next[id], Until: f.next[id] + f.rate}
		if id == "0" && f.reset != 0 {
			r.ResetFrom, f.reset = f.reset, 0
		}
		p.Ranges = append(p.Ranges, r)
		p.Lag = append(p.Lag, 7)
		f.next[id] += f.rate
	}
	return p, nil
}

func (f *fakeInput) Run(ctx context.Context, b *Batch) (Result, error) {
	if f.running.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.running.Add(-1)
	f.mu.Lock()
	f.batches = append(f.batches, *b)
	f.mu.Unlock()
	if f.run != nil {
		if err := f.run(ctx, b); err != nil {
			return Result{}, err
		}
	}
	var n int64
	for _, r := range b.Ranges {
		n += r.Count()
	}
	return Result{Events: n}, nil
}

func (f *fakeInput) Stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
}

func (f *fakeInput) seen() []Batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Batch(nil), f.batches...)
}

func newTestContext(t *testing.T, interval time.Duration) *Context {
	t.Helper()
	c, err := NewContext(interval, &ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, c *Context) <-chan error {
	done, finished := make(chan error, 1), make(chan struct{})
	go func() { done <- c.Run(context.Background()); close(finished) }()
	t.Cleanup(func() {
		c.Stop(false)
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of Stop")
		}
	})
	return done
}

func TestNewContextRefusesBadInterval(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := NewContext(d, nil); err == nil || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("NewContext(%s) = %v, want an error naming the interval", d, err)
		}
	}
}

func TestRunWithoutInputs(t *testing.T) {
	c := newTestContext(t, time.Second)
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no input") {
		t.Fatalf("Run = %v, want an error saying there is no input", err)
	}
}

// Batches run one at a time; one that overruns the interval delays the
// next, and the delay is reported.
func TestBatchesDoNotOverlap(t *testing.T) {
	c := newTestContext(t, 5*time.Millisecond)
	in := newFake()
	release := make(chan struct{})
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 {
			<-release
		}
		return nil
	}
	var mu sync.Mutex
	var infos []BatchInfo
	c.AddListener(ListenerFunc(func(b BatchInfo) { mu.Lock(); infos = append(infos, b); mu.Unlock() }))
	if err := c.AddInput(in); err != nil {
		t.Fatal(err)
	}
	done := run(t, c)
	waitFor(t, "batch 2 to start", func() bool { return len(in.seen()) == 2 })
	blockedAt := time.Now()
	waitFor(t, "four intervals to pass", func() bool { return time.Since(blockedAt) > 20*time.Millisecond })
	if n := len(in.seen()); n != 2 {
		t.Fatalf("%d batches ran while batch 2 was still running", n)
	}
	close(release)
	waitFor(t, "six batches", func() bool { mu.Lock(); defer mu.Unlock(); return len(infos) >= 6 })
	c.Stop(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if in.overlap.Load() {
		t.Error("two batches ran at the same time")
	}
	mu.Lock()
	defer mu.Unlock()
	if d := infos[2].SchedulingDelay; d < 15*time.Millisecond {
		t.Errorf("batch 3 waited behind a 20ms batch but reports a scheduling delay of %s", d)
	}
	for i, b := range infos {
		if b.Number != int64(i+1) || b.Events != 20 || b.TotalLag() != 14 || len(b.Ranges) != 2 {
			t.Errorf("batch info %d: %+v", i, b)
		}
		if i > 0 && !b.Time.Equal(infos[i-1].Time.Add(5*time.Millisecond)) {
			t.Errorf("batch %d due at %s, want one interval after the previous (%s)", b.Number, b.Time, infos[i-1].Time)
		}
	}
	if !in.stopped {
		t.Error("the input was not stopped")
	}
}

// A batch that fails is not marked done; the restarted stream runs it again
// with the same ranges, then goes on from its end.
func TestReplayUnfinishedBatch(t *testing.T) {
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("output failed")

	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 3 {
			return boom
		}
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); !errors.Is(err, boom) || !strings.Contains(err.Error(), "batch 3") {
		t.Fatalf("Run = %v, want the output's error naming batch 3", err)
	}
	failed := in.seen()[2]
	ck, err := store.Load(context.Background())
	if err != nil || ck == nil || ck.Batch != 3 || ck.Done {
		t.Fatalf("checkpoint after the failure: %+v, %v; want batch 3 not done", ck, err)
	}

	c = newTestContext(t, time.Millisecond)
	in = newFake()
	c.Checkpoint(store)
	c.AddInput(in)
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 5 {
			c.Stop(true)
		}
		return nil
	}
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in.resume, map[string]int64{"0": 30, "1": 30}) {
		t.Errorf("resumed from %v, want the failed batch's ends", in.resume)
	}
	got := in.seen()
	if len(got) != 3 {
		t.Fatalf("the restart ran %d batches, want 3 (the replay, 4 and 5)", len(got))
	}
	if !got[0].Replay || got[0].Number != 3 || !reflect.DeepEqual(got[0].Ranges, failed.Ranges) || !got[0].Time.Equal(failed.Time) {
		t.Errorf("first batch after the restart: %+v; want a replay of %+v", got[0], failed)
	}
	if got[1].Number != 4 || got[1].Replay || got[1].Ranges[0].From != 30 {
		t.Errorf("batch after the replay: %+v; want batch 4 from 30", got[1])
	}
	ck, _ = store.Load(context.Background())
	if ck.Batch != 5 || !ck.Done {
		t.Errorf("final checkpoint: batch %d done %v, want 5 done", ck.Batch, ck.Done)
	}
}

func TestCheckpointOfAnotherInputIsRefused(t *testing.T) {
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error { c.Stop(true); return nil }
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}

	for name, inputs := range map[string][]Input{
		"other identity": {&fakeInput{id: Identity{"kind": "fake", "name": "g"}}},
		"two inputs":     {newFake(), newFake()},
	} {
		c := newTestContext(t, time.Millisecond)
		c.Checkpoint(store)
		for _, in := range inputs {
			c.AddInput(in)
		}
		err := <-run(t, c)
		var ce *CheckpointError
		if !errors.As(err, &ce) {
			t.Errorf("%s: Run = %v, want a CheckpointError", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// Batches with nothing to read leave the checkpoint alone, but for the
// first: the positions the input resolved at start are stored before any
// batch runs, so a restart never resolves them again (a stream starting at
// the end of a hub would skip what arrived while it was down).
func TestEmptyBatchIsNotCheckpointed(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.rate = 0
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 3 {
			c.Stop(true)
		}
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	ck, err := store.Load(context.Background())
	if err != nil || ck == nil {
		t.Fatalf("checkpoint after empty batches: %+v, %v; want the first batch's", ck, err)
	}
	if ck.Batch != 1 || !ck.Done || len(ck.Inputs) != 1 || len(ck.Inputs[0].Ranges) != 2 {
		t.Errorf("checkpoint after empty batches = %+v; want batch 1, done, with both partitions' positions", ck)
	}
}

// A partition the input finds later has its position stored by the first
// batch that plans it, even an empty one.
func TestNewPartitionPositionIsCheckpointed(t *testing.T) {
	dir := t.TempDir()
	store, _ := NewDirStore(dir)
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.rate = 0
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 {
			in.mu.Lock()
			in.next["2"] = 42 // found while the stream runs
			in.extra = true
			in.mu.Unlock()
		}
		if b.Number == 4 {
			c.Stop(true)
		}
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	ck, err := store.Load(context.Background())
	if err != nil || ck == nil {
		t.Fatalf("checkpoint: %+v, %v", ck, err)
	}
	if ck.Batch != 3 || len(ck.Inputs[0].Ranges) != 3 || ck.Inputs[0].Ranges[2] != (Range{Source: "f", Partition: "2", From: 42, Until: 42}) {
		t.Errorf("checkpoint = %+v; want batch 3, the first to plan partition 2, holding its position 42", ck)
	}
}

// A checkpoint written when an input's identity was spelled otherwise is
// the input's own when the input says so (IdentityMatcher).
func TestIdentityMatcher(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	if err := store.Save(context.Background(), &Checkpoint{Version: 1, Batch: 7, Done: true,
		Inputs: []InputCheckpoint{{Identity: Identity{"kind": "fake", "name": "F"}, Ranges: []Range{{Source: "f", Partition: "0", From: 0, Until: 5}}}}}); err != nil {
		t.Fatal(err)
	}
	c := newTestContext(t, time.Millisecond)
	in := &foldingInput{newFake()}
	in.run = func(ctx context.Context, b *Batch) error {
		c.Stop(true)
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatalf("Run with a checkpoint of the same identity in another case: %v", err)
	}
	if in.resume["0"] != 5 {
		t.Errorf("resumed at %v, want partition 0 at 5", in.resume)
	}
}

type foldingInput struct{ *fakeInput }

func (f *foldingInput) SameIdentity(stored Identity) bool {
	return strings.EqualFold(stored["name"], f.id["name"]) && stored["kind"] == f.id["kind"]
}

func TestStopBeforeRunAndRunTwice(t *testing.T) {
	c := newTestContext(t, time.Hour)
	c.AddInput(newFake())
	c.Stop(true)
	if err := <-run(t, c); err != nil {
		t.Fatalf("Run after Stop = %v, want nil", err)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
	if err := c.AddInput(newFake()); err == nil {
		t.Error("AddInput after Run succeeded")
	}
}

// Cancelling Run's context cancels the running batch and returns the cause.
func TestContextCancelEndsRun(t *testing.T) {
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	entered := make(chan struct{})
	var once sync.Once
	in.run = func(ctx context.Context, b *Batch) error {
		once.Do(func() { close(entered) })
		<-ctx.Done()
		return ctx.Err()
	}
	c.AddInput(in)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-entered
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestDirStore(t *testing.T) {
	dir := t.TempDir()
	s, err := NewDirStore(filepath.Join(dir, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ck, err := s.Load(ctx); ck != nil || err != nil {
		t.Fatalf("Load of a new store = %v, %v", ck, err)
	}
	want := &Checkpoint{Version: 1, Batch: 7, Time: time.Date(2026, 11, 28, 1, 2, 3, 4, time.UTC), Done: true,
		Inputs: []InputCheckpoint{{Identity: Identity{"k": "v"}, Ranges: []Range{{Source: "h", Partition: "0", From: 3, Until: 9}}}}}
	for range 3 {
		if err := s.Save(ctx, want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, want)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a", "b"))
	if len(entries) != 1 {
		t.Errorf("the store left %d files, want only %s", len(entries), checkpointFile)
	}

	if err := os.WriteFile(s.Path(), []byte(`{"version":1,"batch":`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx)
	var ce *CheckpointError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("Load of a torn file = %v, want a CheckpointError naming the file", err)
	}
	if _, err := NewDirStore(""); err == nil {
		t.Error("NewDirStore(\"\") succeeded")
	}
}

func TestCheckpointVersionAndRanges(t *testing.T) {
	in := newFake()
	for name, ck := range map[string]*Checkpoint{
		"newer version": {Version: stateCheckpointVersion + 1, Inputs: []InputCheckpoint{{Identity: in.id}}},
		"bad range":     {Version: 1, Inputs: []InputCheckpoint{{Identity: in.id, Ranges: []Range{{Partition: "0", From: 5, Until: 2}}}}},
		"duplicate":     {Version: 1, Inputs: []InputCheckpoint{{Identity: in.id, Ranges: []Range{{Partition: "0"}, {Partition: "0"}}}}},
	} {
		if _, err := matchInputs(ck, []Input{in}); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// A batch that reads nothing but resets a position (a source whose
// numbering restarted, empty so far) is checkpointed: the position moved.
func TestResetIsCheckpointed(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.rate = 0
	in.run = func(ctx context.Context, b *Batch) error {
		switch b.Number {
		case 2:
			in.mu.Lock()
			in.reset = 40
			in.mu.Unlock()
		case 4:
			c.Stop(true)
		}
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	ck, err := store.Load(context.Background())
	if err != nil || ck == nil || ck.Batch != 3 || ck.Inputs[0].Ranges[0].ResetFrom != 40 {
		t.Fatalf("checkpoint %+v (%v): want batch 3, holding the reset from 40", ck, err)
	}
}

// An input that claims its source exclusively claims it before the
// checkpoint is read, so that another instance cannot move the checkpoint
// after this one read it.
func TestClaimBeforeTheCheckpointIsRead(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	dir, _ := NewDirStore(t.TempDir())
	c := newTestContext(t, time.Millisecond)
	in := &claimingInput{fakeInput: newFake(), note: note}
	in.run = func(ctx context.Context, b *Batch) error {
		c.Stop(true)
		return nil
	}
	c.Checkpoint(loadNoting{dir, note})
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// A fenced store (DirStore) is read before the claim too, to wait for
	// another instance's batch; the read the stream resumes from follows it.
	if got := strings.Join(order, " "); !strings.HasSuffix(strings.SplitAfter(got, "start")[0], "claim load start") {
		t.Errorf("calls in the order %q, want the claim, then the checkpoint's load, then the start", got)
	}
}

type claimingInput struct {
	*fakeInput
	note func(string)
}

func (c *claimingInput) Claim(ctx context.Context) error { c.note("claim"); return nil }

func (c *claimingInput) Start(ctx context.Context, resume map[string]int64) error {
	c.note("start")
	return c.fakeInput.Start(ctx, resume)
}

type loadNoting struct {
	*DirStore
	note func(string)
}

func (l loadNoting) Load(ctx context.Context) (*Checkpoint, error) {
	l.note("load")
	return l.DirStore.Load(ctx)
}

// An input that finds its plan stale abandons the batch with ErrReplan:
// the stream goes on with a new batch instead of failing.
func TestReplanAbandonsTheBatch(t *testing.T) {
	store, _ := NewDirStore(t.TempDir())
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		switch b.Number {
		case 2:
			return fmt.Errorf("%w: partition 1 moved", ErrReplan)
		case 4:
			c.Stop(true)
		}
		return nil
	}
	c.Checkpoint(store)
	c.AddInput(in)
	if err := <-run(t, c); err != nil {
		t.Fatalf("Run = %v, want nil: a replanned batch does not fail the stream", err)
	}
	var numbers []int64
	for _, b := range in.seen() {
		numbers = append(numbers, b.Number)
	}
	if !reflect.DeepEqual(numbers, []int64{1, 2, 3, 4}) {
		t.Errorf("batches %v, want 1 to 4", numbers)
	}
	if ck, _ := store.Load(context.Background()); ck.Batch != 4 || !ck.Done {
		t.Errorf("checkpoint: batch %d done %v, want 4 done", ck.Batch, ck.Done)
	}
}
