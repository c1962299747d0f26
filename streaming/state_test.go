package streaming

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Windows and slides that are not multiples of the batch interval, or of
// the windowed stream's slide, are errors that say so.
func TestWindowMustBeMultiples(t *testing.T) {
	ssc := newTestContext(t, time.Second)
	in := newScriptInput(t, ssc, [][][]item{{nil}})
	src := in.src.Stream()
	sum := func(a, b int) int { return a + b }
	for _, tc := range []struct {
		length, slide time.Duration
		want          string
	}{
		{1500 * time.Millisecond, time.Second, "window length 1.5s is not a multiple of the batch interval 1s"},
		{10 * time.Second, 0, "slide 0s is not a multiple of the batch interval 1s"},
		{-2 * time.Second, time.Second, "window length -2s is not a multiple"},
	} {
		_, err := ReduceByKeyAndWindow(src, sum, nil, tc.length, tc.slide)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReduceByKeyAndWindow(%s, %s) = %v, want %q", tc.length, tc.slide, err, tc.want)
		}
	}
	w, err := Window(src, 4*time.Second, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CountByWindow(w, 5*time.Second, 2*time.Second); err == nil || !strings.Contains(err.Error(), "window length 5s is not a multiple of the windowed stream's interval 2s") {
		t.Errorf("a window of a window at another slide: %v", err)
	}
	if _, err := MapWithState(src, StateSpec[string, int, int, int]{}); err == nil || !strings.Contains(err.Error(), "Func is nil") {
		t.Errorf("MapWithState without a function: %v", err)
	}
}

// totals is the state test's pipeline: running totals per key.
func totals[S int | int64](t *testing.T, ssc *Context, src DStream[item], timeout time.Duration) (*mapState[string, int, S, string], DStream[string]) {
	t.Helper()
	ms, err := MapWithState(src, StateSpec[string, int, S, string]{
		Func: func(key string, v int, st *State[S]) string {
			s, _ := st.Get()
			st.Update(s + S(v))
			return fmt.Sprintf("%s=%d", key, s+S(v))
		},
		Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms.n.st.(*mapState[string, int, S, string]), ms
}

// State survives a restart through a DirStore, also of a changed program
// that keeps the types; a program whose state type changed is refused with
// an error naming the stream; old state files are removed.
func TestStateRestartAndTypeChange(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	script := randomScript(r, 30, 2, 5)
	start := func(n int64) (*Context, *scriptInput) {
		ssc := newTestContext(t, testInterval)
		store, err := NewDirStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		ssc.Checkpoint(store)
		in := newScriptInput(t, ssc, script)
		in.planned = n
		return ssc, in
	}
	// First run: 15 batches.
	ssc, in := start(0)
	ms, out := totals[int](t, ssc, in.src.Stream(), 0)
	rec := newRecorder()
	record(rec, "totals", out)
	if err := runUntil(t, ssc, 15); err != nil {
		t.Fatal(err)
	}
	keys := ms.size()
	// A changed program: a Filter that keeps everything and a new output,
	// same types: the state carries on.
	ssc, in = start(15)
	src := Filter(in.src.Stream(), func(item) bool { return true })
	ms2, out2 := totals[int](t, ssc, src, 0)
	record(rec, "totals", out2)
	record(rec, "other", Map(in.src.Stream(), func(kv item) string { return kv.Key }))
	if err := runUntil(t, ssc, 30); err != nil {
		t.Fatal(err)
	}
	if ms2.size() < keys {
		t.Errorf("the restarted program has %d keys, the first had %d", ms2.size(), keys)
	}
	want := oracleTotals(script)
	for n, vals := range want {
		if strings.Join(rec.seen["totals"][n], " ") != strings.Join(vals, " ") {
			t.Fatalf("batch %d: got %v, want %v", n, rec.seen["totals"][n], vals)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "state-*"))
	if len(files) > maxDeltas+2 {
		t.Errorf("%d state files after 30 batches: old ones are not removed", len(files))
	}

	// The state's type changes: refused, naming the stream.
	ssc, in = start(30)
	_, out3 := totals[int64](t, ssc, in.src.Stream(), 0)
	record(rec, "x", out3)
	err := runUntil(t, ssc, 31)
	var ce *CheckpointError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `stream "MapWithState#1"`) ||
		!strings.Contains(err.Error(), "MapWithState[string, int, int]") || !strings.Contains(err.Error(), "MapWithState[string, int, int64]") {
		t.Fatalf("a changed state type: %v, want a CheckpointError naming the stream and both types", err)
	}
	t.Log(err)
	// Named, the changed stream starts empty; the old state is dropped.
	ssc, in = start(30)
	_, out4 := totals[int64](t, ssc, in.src.Stream(), 0)
	record(rec, "y", out4.Named("totals-v2"))
	if err := runUntil(t, ssc, 31); err != nil {
		t.Fatal(err)
	}
}

func oracleTotals(script [][][]item) map[int64][]string {
	want := map[int64][]string{}
	sums := map[string]int{}
	for i, parts := range script {
		var vals []string
		for _, items := range parts {
			for _, kv := range items {
				sums[kv.Key] += kv.Value
				vals = append(vals, fmtJSON(fmt.Sprintf("%s=%d", kv.Key, sums[kv.Key])))
			}
		}
		sortStrings(vals)
		want[int64(i+1)] = vals
	}
	return want
}

// A pipeline with state and a store that keeps none fails at Run, saying
// what to do.
func TestStateNeedsStateStore(t *testing.T) {
	ssc := newTestContext(t, testInterval)
	in := newScriptInput(t, ssc, [][][]item{{nil}})
	_, out := totals[int](t, ssc, in.src.Stream(), 0)
	ForeachBatch(out, func(context.Context, *BatchData[string]) error { return nil })
	err := runUntil(t, ssc, 1)
	if err == nil || !strings.Contains(err.Error(), "MapWithState#1") || !strings.Contains(err.Error(), "NewDirStore") {
		t.Fatalf("Run without a checkpoint store: %v", err)
	}
}

// 100,000 keys: what each costs in memory and in the checkpoint; then a
// timeout drops them all, and the checkpoint shrinks accordingly.
func TestStateTimeoutBytesPerKey(t *testing.T) {
	const keys = 100_000
	const parts = 4
	script := make([][][]item, 6)
	for n := range script {
		script[n] = make([][]item, parts)
	}
	for k := range keys {
		script[0][k%parts] = append(script[0][k%parts], item{Key: fmt.Sprintf("device-%06d", k), Value: 1})
	}
	// Batches 2 to 6 touch 10 keys only; the timeout is 3 batches.
	for n := 1; n < len(script); n++ {
		for k := range 10 {
			script[n][k%parts] = append(script[n][k%parts], item{Key: fmt.Sprintf("device-%06d", k), Value: 1})
		}
	}
	store := newMemStore()
	ssc := newTestContext(t, testInterval)
	ssc.Checkpoint(store)
	in := newScriptInput(t, ssc, script)
	var sizes []int64
	var heapAfter1 uint64
	ssc.AddListener(ListenerFunc(func(b BatchInfo) {
		store.mu.Lock()
		sizes = append(sizes, store.bytes)
		store.mu.Unlock()
		if b.Number == 1 {
			heapAfter1 = heapInUse()
		}
	}))
	runtime.GC()
	before := heapInUse()
	ms, out := totals[int64](t, ssc, in.src.Stream(), 3*testInterval)
	ForeachBatch(out, func(context.Context, *BatchData[string]) error { return nil })
	if err := runUntil(t, ssc, int64(len(script))); err != nil {
		t.Fatal(err)
	}
	// The listener's reading includes the batch's garbage; an upper bound.
	perKey := float64(heapAfter1-before) / keys
	full := sizes[0]
	t.Logf("100,000 keys: at most %.0f bytes of heap per key (state, batch and garbage), %.1f bytes per key in the checkpoint (full snapshot %d bytes)",
		perKey, float64(full)/keys, full)
	if perKey > 600 {
		t.Errorf("%.0f bytes of heap per key", perKey)
	}
	if ms.size() != 10 {
		t.Errorf("%d keys kept state after the timeout, want the 10 that stay busy", ms.size())
	}
	ck, _ := store.Load(context.Background())
	var total int
	for _, f := range ck.State.Files {
		total += len(store.files[f])
	}
	t.Logf("checkpoint state after the timeout: %d bytes in %d files (%v)", total, len(ck.State.Files), ck.State.Files)
	if total > int(full)/10 {
		t.Errorf("the checkpoint's state is %d bytes after 99,990 keys timed out; it held %d with them", total, full)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
