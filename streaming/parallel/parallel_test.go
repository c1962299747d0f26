package parallel

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCancelsTheOthersAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var ended atomic.Int32
	err := Run(context.Background(), 4, func(ctx context.Context, i int) error {
		if i == 2 {
			return boom
		}
		select {
		case <-ctx.Done():
			if !errors.Is(context.Cause(ctx), boom) {
				t.Errorf("task %d: cause %v, want boom", i, context.Cause(ctx))
			}
		case <-time.After(10 * time.Second):
			t.Errorf("task %d was not cancelled", i)
		}
		ended.Add(1)
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want boom", err)
	}
	if ended.Load() != 3 {
		t.Errorf("%d of the other tasks had ended when Run returned, want 3", ended.Load())
	}
}

func TestRunOneTaskOnTheCallersGoroutine(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	ran := false
	err := Run(ctx, 1, func(got context.Context, i int) error {
		ran = true // no race: the same goroutine
		if got != ctx || i != 0 {
			t.Errorf("task got %v, %d; want the caller's context and 0", got, i)
		}
		return nil
	})
	if err != nil || !ran {
		t.Errorf("Run(1) = %v, ran %v", err, ran)
	}
	if err := Run(ctx, 0, func(context.Context, int) error { return errors.New("ran") }); err != nil {
		t.Errorf("Run(0) = %v", err)
	}
}

func TestEachRunsEveryTaskAndReturnsTheFirstErrorByIndex(t *testing.T) {
	var ran atomic.Int32
	err := Each(5, func(i int) error {
		ran.Add(1)
		if i >= 2 {
			// The later index fails first: the earlier one is still returned.
			time.Sleep(time.Duration(5-i) * 5 * time.Millisecond)
			return fmt.Errorf("task %d", i)
		}
		return nil
	})
	if err == nil || err.Error() != "task 2" {
		t.Errorf("Each = %v, want task 2's error", err)
	}
	if ran.Load() != 5 {
		t.Errorf("%d tasks ran, want 5", ran.Load())
	}
	if err := Each(0, func(int) error { return errors.New("ran") }); err != nil {
		t.Errorf("Each(0) = %v", err)
	}
}
