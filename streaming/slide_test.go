package streaming

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A window's slide changed between runs is refused when the stream
// starts, naming both slides and the cure, before any batch runs: the
// window's outputs would get ranges with a gap (a shorter slide) or an
// overlap (a longer one). The same slide resumes, and so does a
// checkpoint written before slides were recorded.
func TestChangedSlideIsRefusedAtStart(t *testing.T) {
	script := randomScript(rand.New(rand.NewPCG(3, 3)), 14, 2, 3)
	store := newMemStore()
	var ran atomic.Int64 // batches completed
	start := func(slide, planned int64) *Context {
		ssc := newTestContext(t, testInterval)
		if err := ssc.Checkpoint(store); err != nil {
			t.Fatal(err)
		}
		in := newScriptInput(t, ssc, script)
		in.planned = planned
		w, err := ReduceByKeyAndWindow(in.src.Stream(), func(a, b int) int { return a + b }, nil, 4*testInterval, time.Duration(slide)*testInterval)
		if err != nil {
			t.Fatal(err)
		}
		ForeachBatch(w, func(ctx context.Context, b *BatchData[item]) error { return nil })
		ssc.AddListener(ListenerFunc(func(BatchInfo) { ran.Add(1) }))
		return ssc
	}
	// Done at batch 5: the window's last output ran at 4.
	if err := runUntil(t, start(2, 0), 5); err != nil {
		t.Fatal(err)
	}
	for _, slide := range []int64{1, 4} {
		ran.Store(0)
		err := runUntil(t, start(slide, 5), 8)
		var ce *CheckpointError
		for _, want := range []string{`stream "ReduceByKeyAndWindow#1"`, "slides every 2 batches (2ms", fmt.Sprintf("this program's every %d (", slide), "keep the slide 2ms", "new checkpoint store"} {
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
				t.Errorf("slide 2 changed to %d: %v; want a CheckpointError saying %q", slide, err, want)
			}
		}
		t.Log(err)
		if n := ran.Load(); n != 0 {
			t.Errorf("slide 2 changed to %d: %d batches ran before the error, want none", slide, n)
		}
	}
	if err := runUntil(t, start(2, 5), 8); err != nil {
		t.Fatalf("the same slide: %v", err)
	}
	store.mu.Lock()
	old := regexp.MustCompile(`,"slide":\d+`).ReplaceAll(store.ck, nil)
	if string(old) == string(store.ck) {
		t.Fatalf("the checkpoint records no slide: %s", store.ck)
	}
	store.ck = old
	store.mu.Unlock()
	if err := runUntil(t, start(2, 8), 10); err != nil {
		t.Fatalf("a checkpoint without a recorded slide: %v", err)
	}
}
