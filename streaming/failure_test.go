package streaming

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// failureRecorder hears of every batch: completed, failed and abandoned.
type failureRecorder struct {
	mu        sync.Mutex
	completed []BatchInfo
	failed    []BatchFailure
	abandoned []BatchFailure
}

func (r *failureRecorder) OnBatchCompleted(b BatchInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.completed = append(r.completed, b)
}

func (r *failureRecorder) OnBatchFailed(f BatchFailure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, f)
}

func (r *failureRecorder) OnBatchAbandoned(f BatchFailure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abandoned = append(r.abandoned, f)
}

func (r *failureRecorder) snapshot() (completed []BatchInfo, failed, abandoned []BatchFailure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]BatchInfo(nil), r.completed...), append([]BatchFailure(nil), r.failed...), append([]BatchFailure(nil), r.abandoned...)
}

var errSinkDown = errors.New("sink down")

// With Retry, a batch whose output fails runs again with the same ranges
// until it succeeds; each failure reaches the failure listeners, marked as
// retried, and the stream goes on with the next batch.
func TestRetryRunsTheFailedBatchAgain(t *testing.T) {
	var asked []int
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, Retry: func(err error, attempt int) (time.Duration, bool) {
		asked = append(asked, attempt)
		return time.Millisecond, errors.Is(err, errSinkDown)
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := newFake()
	fails := 0
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 && fails < 3 {
			fails++
			return errSinkDown
		}
		if b.Number == 3 {
			c.Stop(true)
		}
		return nil
	}
	rec := &failureRecorder{}
	c.AddInput(in)
	c.AddListener(rec)
	if err := <-run(t, c); err != nil {
		t.Fatalf("Run = %v, want nil: the failed batch succeeded on its fourth run", err)
	}
	var runs []string
	for _, b := range in.seen() {
		runs = append(runs, fmt.Sprintf("%d:%d-%d", b.Number, b.Ranges[0].From, b.Ranges[0].Until))
	}
	if got, want := strings.Join(runs, " "), "1:0-10 2:10-20 2:10-20 2:10-20 2:10-20 3:20-30"; got != want {
		t.Errorf("runs %s, want %s (batch 2 four times, with the same ranges)", got, want)
	}
	if fmt.Sprint(asked) != "[1 2 3]" {
		t.Errorf("Retry asked with attempts %v, want [1 2 3]", asked)
	}
	completed, failed, _ := rec.snapshot()
	if len(completed) != 3 || completed[1].Number != 2 {
		t.Errorf("%d completed batches, want 3, the second numbered 2", len(completed))
	}
	if len(failed) != 3 {
		t.Fatalf("%d failures heard, want 3", len(failed))
	}
	for i, f := range failed {
		if f.Number != 2 || f.Attempt != i+1 || !f.Retrying || !errors.Is(f.Err, errSinkDown) || len(f.Ranges) != 2 || f.Ranges[0].From != 10 {
			t.Errorf("failure %d: %+v; want batch 2, attempt %d, retrying, the sink's error and the batch's ranges", i, f, i+1)
		}
	}
	if st, err := c.RunState(); st != RunStopped || err != nil {
		t.Errorf("State() = %s, %v; want stopped", st, err)
	}
}

// A failure Retry declines ends Run with the error, and listeners hear of
// it as the last failure, not retried; State says failed, with the error.
func TestFailureNotRetriedEndsRun(t *testing.T) {
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, Retry: func(err error, attempt int) (time.Duration, bool) {
		return time.Millisecond, attempt < 2
	}})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := c.RunState(); st != RunNew {
		t.Errorf("State() before Run = %s, want new", st)
	}
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 {
			return errSinkDown
		}
		return nil
	}
	rec := &failureRecorder{}
	c.AddInput(in)
	c.AddListener(rec)
	err = <-run(t, c)
	if !errors.Is(err, errSinkDown) {
		t.Fatalf("Run = %v, want the output's error", err)
	}
	_, failed, _ := rec.snapshot()
	if len(failed) != 2 || !failed[0].Retrying || failed[1].Retrying || failed[1].Attempt != 2 {
		t.Errorf("failures %+v; want two: the first retried, the second (attempt 2) not", failed)
	}
	if st, serr := c.RunState(); st != RunFailed || !errors.Is(serr, errSinkDown) {
		t.Errorf("State() = %s, %v; want failed with the output's error", st, serr)
	}
}

// Without Retry, as before, a failed batch ends Run; a listener that knows
// only OnBatchCompleted keeps working, and one that hears of failures is
// told once, with the planned ranges.
func TestFailureWithoutRetry(t *testing.T) {
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		if b.Number == 2 {
			return errSinkDown
		}
		return nil
	}
	rec := &failureRecorder{}
	var plain int
	c.AddInput(in)
	c.AddListener(ListenerFunc(func(BatchInfo) { plain++ }))
	c.AddListener(rec)
	if err := <-run(t, c); !errors.Is(err, errSinkDown) {
		t.Fatalf("Run = %v, want the output's error", err)
	}
	_, failed, _ := rec.snapshot()
	if plain != 1 || len(failed) != 1 || failed[0].Number != 2 || failed[0].Retrying || len(failed[0].Ranges) != 2 {
		t.Errorf("plain listener heard %d batches, failures %+v; want 1, and one failure of batch 2 with its ranges", plain, failed)
	}
}

// A graceful Stop while a failed batch waits to run again ends Run with
// the batch's error (it did not finish), and State says stopping meanwhile.
func TestStopWhileWaitingToRetry(t *testing.T) {
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, Retry: func(err error, attempt int) (time.Duration, bool) {
		return time.Hour, true
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error { return errSinkDown }
	rec := &failureRecorder{}
	c.AddInput(in)
	c.AddListener(rec)
	done := run(t, c)
	waitFor(t, "the first failure", func() bool { _, f, _ := rec.snapshot(); return len(f) == 1 })
	if st, _ := c.RunState(); st != RunRunning {
		t.Errorf("State() while retrying = %s, want running", st)
	}
	c.Stop(true)
	select {
	case err := <-done:
		if !errors.Is(err, errSinkDown) || !strings.Contains(err.Error(), "stopped while the batch waited") {
			t.Errorf("Run = %v, want the batch's error, saying it stopped while waiting", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of a graceful Stop while waiting an hour to retry")
	}
}

// An abandoned batch (ErrReplan) reaches BatchAbandonedListener, not the
// failure listeners.
func TestAbandonedBatchIsHeard(t *testing.T) {
	c := newTestContext(t, time.Millisecond)
	in := newFake()
	in.run = func(ctx context.Context, b *Batch) error {
		switch b.Number {
		case 2:
			return fmt.Errorf("%w: partition 1 moved", ErrReplan)
		case 3:
			c.Stop(true)
		}
		return nil
	}
	rec := &failureRecorder{}
	c.AddInput(in)
	c.AddListener(rec)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	completed, failed, abandoned := rec.snapshot()
	if len(completed) != 2 || len(failed) != 0 || len(abandoned) != 1 || abandoned[0].Number != 2 || !errors.Is(abandoned[0].Err, ErrReplan) {
		t.Errorf("completed %d, failed %d, abandoned %+v; want 2, 0 and batch 2", len(completed), len(failed), abandoned)
	}
}

// RangeSkipped says which range's events were skipped, parallel to Ranges.
func TestRangeSkipped(t *testing.T) {
	c := newTestContext(t, time.Millisecond)
	in := &skippingInput{fakeInput: newFake()}
	rec := &failureRecorder{}
	c.AddInput(in)
	c.AddListener(rec)
	c.AddListener(ListenerFunc(func(BatchInfo) { c.Stop(true) }))
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	completed, _, _ := rec.snapshot()
	if len(completed) != 1 || fmt.Sprint(completed[0].RangeSkipped) != "[0 3]" || completed[0].Skipped != 3 {
		t.Errorf("batches %+v; want one with RangeSkipped [0 3] and Skipped 3", completed)
	}
}

type skippingInput struct{ *fakeInput }

func (s *skippingInput) Run(ctx context.Context, b *Batch) (Result, error) {
	res, err := s.fakeInput.Run(ctx, b)
	res.Skipped, res.RangeSkipped = 3, []int64{0, 3}
	return res, err
}
