package streaming

import (
	"context"
	"testing"
	"time"
)

// A completed batch tells the listeners how long each output ran, over
// every attempt of the batch: here output 0 completes in the first attempt
// and output 1 fails once, so that the retry runs output 1 alone.
func TestOutputTimes(t *testing.T) {
	c, err := NewContext(time.Millisecond, &ContextOptions{NoBatchLog: true, Retry: retryFew})
	if err != nil {
		t.Fatal(err)
	}
	in := newFake()
	failed := false
	in.run = func(ctx context.Context, b *Batch) error {
		if err := b.RunOutput(0, func() error { time.Sleep(40 * time.Millisecond); return nil }); err != nil {
			return err
		}
		return b.RunOutput(1, func() error {
			time.Sleep(5 * time.Millisecond)
			if !failed {
				failed = true
				return errSinkDown
			}
			c.Stop(true)
			return nil
		})
	}
	rec := &failureRecorder{}
	c.AddInput(in)
	c.AddListener(rec)
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	completed, failures, _ := rec.snapshot()
	if len(completed) != 1 || len(failures) != 1 {
		t.Fatalf("%d completed batches and %d failures, want 1 of each", len(completed), len(failures))
	}
	outs := completed[0].Outputs
	if len(outs) != 2 || outs[0].Output != 0 || outs[1].Output != 1 || outs[0].Input != 0 || outs[0].Typed || outs[1].Typed {
		t.Fatalf("outputs %+v, want outputs 0 and 1 of input 0", outs)
	}
	if outs[0].Took < 40*time.Millisecond || outs[1].Took < 10*time.Millisecond {
		t.Errorf("outputs took %s and %s; want at least 40ms, and 10ms for the one run twice", outs[0].Took, outs[1].Took)
	}
	if sum := outs[0].Took + outs[1].Took; sum > completed[0].ProcessingTime {
		t.Errorf("the outputs took %s together, more than the batch's processing time %s", sum, completed[0].ProcessingTime)
	}
	if runs := in.seen(); len(runs) != 2 || runs[1].Number != 1 {
		t.Errorf("%d runs, want batch 1 twice", len(runs))
	}
}
