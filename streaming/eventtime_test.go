package streaming

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// In the event-time tests an item's Value is its event time, in seconds
// since the Unix epoch, and also the value summed per (window, key).
func itemTime(kv item) time.Time { return time.Unix(int64(kv.Value), 0) }

func itemPair(kv item) item { return kv }

// eventTimeScript makes batches whose items' times move forward with the
// batches but out of order: each partition runs ahead or behind by its own
// skew, and each item jitters around it, so that late items come, some
// from a partition far behind the others. Times start before 1970.
func eventTimeScript(r *rand.Rand, batches, parts, keys int) [][][]item {
	skew := make([]int, parts)
	for p := range skew {
		skew[p] = r.IntN(25) - 12
	}
	script := make([][][]item, batches)
	for n := range script {
		script[n] = make([][]item, parts)
		if r.IntN(7) == 0 {
			continue // an empty batch
		}
		for p := range parts {
			for range r.IntN(7) {
				t := -60 + 4*n + skew[p] + r.IntN(17) - 8
				script[n][p] = append(script[n][p], item{Key: fmt.Sprintf("k%d", r.IntN(keys)), Value: t})
			}
		}
	}
	return script
}

// eventTimeResult is what the oracle says an event-time window emits.
type eventTimeResult struct {
	windows map[int64][]string // per batch: formatted WindowedKV or Windowed values
	late    map[int64][]string // per batch: the late items
	lates   map[int64]int64    // per batch: late items since the start
}

// oracleEventTime runs an event-time window over script one item after
// the other: the watermark a batch checks against is the previous batch's,
// and after the batch it moves to the largest time seen minus the
// lateness. keyed false makes every item count 1 in its windows, with no
// key (CountByEventTimeWindow).
func oracleEventTime(script [][][]item, w EventTimeWindow, keyed bool) eventTimeResult {
	if w.Slide == 0 {
		w.Slide = w.Length
	}
	length, slide := int64(w.Length/time.Second), int64(w.Slide/time.Second)
	res := eventTimeResult{windows: map[int64][]string{}, late: map[int64][]string{}, lates: map[int64]int64{}}
	type wk struct {
		start int64
		key   string
	}
	state := map[wk]int{}
	seen, maxT, wm, lates := false, int64(0), int64(0), int64(0)
	format := func(k wk, v int) string {
		win := TimeWindow{Start: time.Unix(k.start, 0).UTC(), End: time.Unix(k.start+length, 0).UTC()}
		if keyed {
			return fmtJSON(WindowedKV[string, int]{Window: win, Key: k.key, Value: v})
		}
		return fmtJSON(Windowed[int64]{Window: win, Value: int64(v)})
	}
	for i, parts := range script {
		n := int64(i + 1)
		changed := map[wk]bool{}
		batchMax, any := int64(0), false
		var out, late []string
		for _, items := range parts {
			for _, kv := range items {
				t := int64(kv.Value)
				if !any || t > batchMax {
					batchMax, any = t, true
				}
				last := floorDiv(t, slide) * slide
				if seen && last+length <= wm {
					late = append(late, fmtJSON(kv))
					continue
				}
				key, v := kv.Key, kv.Value
				if !keyed {
					key, v = "", 1
				}
				for s := last; s+length > t && (!seen || s+length > wm); s -= slide {
					state[wk{s, key}] += v
					changed[wk{s, key}] = true
				}
			}
		}
		lates += int64(len(late))
		if any {
			maxT, wm = nextWatermark(seen, maxT, wm, batchMax, int64(w.AllowedLateness/time.Second))
			seen = true
		}
		if w.Mode == UpdateMode {
			for k := range changed {
				out = append(out, format(k, state[k]))
			}
		}
		for k, v := range state {
			if seen && k.start+length <= wm {
				if w.Mode == AppendMode {
					out = append(out, format(k, v))
				}
				delete(state, k)
			}
		}
		slices.Sort(out)
		slices.Sort(late)
		res.windows[n], res.late[n], res.lates[n] = out, late, lates
	}
	return res
}

// nextWatermark is the oracle's largest time and watermark after a batch
// whose largest time is batchMax.
func nextWatermark(seen bool, maxT, wm, batchMax, lateness int64) (int64, int64) {
	if !seen {
		return batchMax, batchMax - lateness
	}
	maxT = max(maxT, batchMax)
	return maxT, max(maxT-lateness, wm)
}

// resumeScript is a Context (opts nil: newTestContext's) with store as its
// checkpoint and a scriptInput of script that resumes after the
// checkpoint's batch.
func resumeScript(t *testing.T, opts *ContextOptions, store *memStore, script [][][]item) (*Context, *scriptInput) {
	t.Helper()
	if opts == nil {
		opts = &ContextOptions{NoBatchLog: true}
	}
	ssc, err := NewContext(testInterval, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := ssc.Checkpoint(store); err != nil {
		t.Fatal(err)
	}
	in := newScriptInput(t, ssc, script)
	if ck, _ := store.Load(context.Background()); ck != nil {
		in.planned = ck.Batch
	}
	return ssc, in
}

// eventTimeParams are random window parameters, in whole seconds.
func eventTimeParams(r *rand.Rand) EventTimeWindow {
	length := time.Duration(1+r.IntN(12)) * time.Second
	w := EventTimeWindow{Length: length, AllowedLateness: []time.Duration{0, 3 * time.Second, 10 * time.Second, 40 * time.Second}[r.IntN(4)],
		Mode: OutputMode(r.IntN(2))}
	if r.IntN(2) == 0 {
		// Sliding: a slide that divides the length, or one that does not.
		w.Slide = time.Duration(1+r.IntN(int(length/time.Second))) * time.Second
	}
	return w
}

// eventTimePipeline registers a keyed and an unkeyed window with outputs
// of their windows and late items into rec, and records the keyed one's
// late count after every batch into lates.
func eventTimePipeline(t testing.TB, ssc *Context, src DStream[item], w EventTimeWindow, rec *recorder, lates *sync.Map) {
	t.Helper()
	keyed, err := ReduceByKeyAndEventTimeWindow(src, itemTime, itemPair, func(a, b int) int { return a + b }, w)
	if err != nil {
		t.Fatal(err)
	}
	record(rec, "windows", keyed.Windows())
	record(rec, "late", keyed.Late())
	counts, err := CountByEventTimeWindow(src, itemTime, w)
	if err != nil {
		t.Fatal(err)
	}
	record(rec, "counts", counts.Windows())
	ssc.AddListener(ListenerFunc(func(b BatchInfo) { lates.Store(b.Number, keyed.Stats().Late) }))
}

func (e eventTimeResult) outputs(counts eventTimeResult) map[string]map[int64][]string {
	return map[string]map[int64][]string{"windows": e.windows, "late": e.late, "counts": counts.windows}
}

func checkLates(t *testing.T, what string, lates *sync.Map, want map[int64]int64) {
	t.Helper()
	for n, w := range want {
		got, ok := lates.Load(n)
		if !ok || got.(int64) != w {
			t.Fatalf("%s: after batch %d the stats say %v late items, the oracle %d", what, n, got, w)
		}
	}
}

// Tumbling and sliding windows, in both modes, with several lateness
// values, over items out of order within and across partitions, give the
// oracle's windows, late items and late counts, batch for batch.
func TestEventTimeWindowMatchesOracle(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	var modes [2]int
	var lateTotal int64
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 26))
		w := eventTimeParams(r)
		script := eventTimeScript(r, 10+r.IntN(30), 1+r.IntN(4), 1+r.IntN(5))
		what := fmt.Sprintf("seed %d (%d batches of %d partitions, %+v)", seed, len(script), len(script[0]), w)
		ssc, in := resumeScript(t, nil, newMemStore(), script)
		rec, lates := newRecorder(), &sync.Map{}
		eventTimePipeline(t, ssc, in.src.Stream(), w, rec, lates)
		if err := runUntil(t, ssc, int64(len(script))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := oracleEventTime(script, w, true)
		compare(t, what, rec.seen, want.outputs(oracleEventTime(script, w, false)))
		checkLates(t, what, lates, want.lates)
		modes[w.Mode]++
		lateTotal += want.lates[int64(len(script))]
	}
	t.Logf("%d seeds: %d in update mode, %d in append mode, %d late items in all", seeds, modes[UpdateMode], modes[AppendMode], lateTotal)
	if modes[UpdateMode] == 0 || modes[AppendMode] == 0 || lateTotal == 0 {
		t.Fatalf("the seeds do not cover both modes and late items: %v modes, %d late", modes, lateTotal)
	}
}

// A crash at any batch, before or after the output's commit, restores the
// windows and the watermark from the checkpoint and replays the batch: a
// replay of a committed batch emits exactly what the batch emitted before
// the crash, and what is committed equals the oracle's.
func TestEventTimeWindowCrashReplay(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	allCrashes, allReplayed := 0, 0
	defer func() {
		if !t.Failed() && (allCrashes == 0 || allReplayed == 0) {
			t.Errorf("%d crashes and %d replays of a committed batch in %d seeds: the test replayed nothing", allCrashes, allReplayed, seeds)
		}
	}()
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 2626))
		w := eventTimeParams(r)
		script := eventTimeScript(r, 20+r.IntN(20), 1+r.IntN(3), 1+r.IntN(4))
		last := int64(len(script))
		store := newMemStore()
		committed := map[string]map[int64][]string{}
		lates := &sync.Map{}
		crashes, replayed := 0, 0
		for run := 0; ; run++ {
			if run > 3*int(last) {
				t.Fatalf("seed %d: no progress", seed)
			}
			ssc, in := resumeScript(t, nil, store, script)
			rec := newRecorder()
			eventTimePipeline(t, ssc, in.src.Stream(), w, rec, lates)
			sink := &crashSink{rec: rec, committed: committed, crashAt: 1 + r.Int64N(last), afterCommit: r.IntN(2) == 0}
			ForeachBatch(in.src.Stream(), sink.commit)
			err := runUntil(t, ssc, last)
			replayed += sink.replayed
			if sink.mismatch != "" {
				t.Fatalf("seed %d: %s", seed, sink.mismatch)
			}
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "crash") {
				t.Fatalf("seed %d: %v", seed, err)
			}
			crashes++
		}
		delete(committed, "(batches)")
		what := fmt.Sprintf("seed %d (%d batches, %+v, %d crashes, %d committed batches replayed)", seed, last, w, crashes, replayed)
		want := oracleEventTime(script, w, true)
		compare(t, what, committed, want.outputs(oracleEventTime(script, w, false)))
		checkLates(t, what, lates, want.lates)
		t.Log(what)
		allCrashes, allReplayed = allCrashes+crashes, allReplayed+replayed
	}
}

// crashSink is a transactional output: it commits every output's values
// of a batch at once, and crashes at crashAt, before or after the commit.
// A replayed batch that committed must have emitted the same values.
type crashSink struct {
	rec         *recorder
	committed   map[string]map[int64][]string
	crashAt     int64
	afterCommit bool
	replayed    int
	mismatch    string
}

func (s *crashSink) commit(ctx context.Context, b *BatchData[item]) error {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	n := b.Number()
	if _, ok := s.committed["(batches)"][n]; ok {
		s.replayed++
		for name, batches := range s.committed {
			if name != "(batches)" && strings.Join(batches[n], " ") != strings.Join(s.rec.seen[name][n], " ") {
				s.mismatch = fmt.Sprintf("output %s, replayed batch %d:\n got %v\nwant %v (before the crash)", name, n, s.rec.seen[name][n], batches[n])
			}
		}
		return &committedError{batch: n}
	}
	if n == s.crashAt && !s.afterCommit {
		return errors.New("crash before the commit")
	}
	for name, batches := range s.rec.seen {
		if s.committed[name] == nil {
			s.committed[name] = map[int64][]string{}
		}
		s.committed[name][n] = batches[n]
	}
	if s.committed["(batches)"] == nil {
		s.committed["(batches)"] = map[int64][]string{}
	}
	s.committed["(batches)"][n] = nil
	if n == s.crashAt {
		return errors.New("crash after the commit")
	}
	return nil
}

// A batch retried after an output failed undoes what the failed run did
// to the windows, the watermark and the late count, and redoes it: the
// results equal the oracle's, as without failures.
func TestEventTimeWindowRetryUndoes(t *testing.T) {
	for seed := range 6 {
		r := rand.New(rand.NewPCG(uint64(seed), 62))
		w := eventTimeParams(r)
		script := eventTimeScript(r, 25, 3, 3)
		ssc, in := resumeScript(t, &ContextOptions{NoBatchLog: true, Retry: retryFew}, newMemStore(), script)
		rec, lates := newRecorder(), &sync.Map{}
		eventTimePipeline(t, ssc, in.src.Stream(), w, rec, lates)
		ForeachBatch(in.src.Stream(), failOnce(2, 3, 7, 8, 15, 20))
		what := fmt.Sprintf("seed %d (%+v), batches 2, 3, 7, 8, 15 and 20 retried", seed, w)
		if err := runUntil(t, ssc, int64(len(script))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := oracleEventTime(script, w, true)
		compare(t, what, rec.seen, want.outputs(oracleEventTime(script, w, false)))
		checkLates(t, what, lates, want.lates)
	}
}

// Bad windows and missing functions are errors that name the bad value
// and what to give instead; a changed window length is refused at start
// as another window's state.
func TestEventTimeWindowBadInput(t *testing.T) {
	ssc := newTestContext(t, testInterval)
	in := newScriptInput(t, ssc, [][][]item{{nil}})
	src := in.src.Stream()
	sum := func(a, b int) int { return a + b }
	for _, tc := range []struct {
		w    EventTimeWindow
		want string
	}{
		{EventTimeWindow{}, "window length 0s is not positive; give EventTimeWindow.Length"},
		{EventTimeWindow{Length: time.Minute, Slide: -time.Second}, "slide -1s is negative; give 0 for tumbling windows"},
		{EventTimeWindow{Length: time.Minute, AllowedLateness: -time.Second}, "allowed lateness -1s is negative"},
		{EventTimeWindow{Length: time.Minute, Mode: 7}, "output mode 7 is neither UpdateMode nor AppendMode"},
	} {
		_, err := ReduceByKeyAndEventTimeWindow(src, itemTime, itemPair, sum, tc.w)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.w, err, tc.want)
		}
	}
	if _, err := ReduceByKeyAndEventTimeWindow(src, nil, itemPair, sum, EventTimeWindow{Length: time.Minute}); err == nil || !strings.Contains(err.Error(), "eventTime is nil") {
		t.Errorf("no eventTime: %v", err)
	}
	if _, err := ReduceByEventTimeWindow[item, int](src, itemTime, nil, sum, EventTimeWindow{Length: time.Minute}); err == nil || !strings.Contains(err.Error(), "value is nil") {
		t.Errorf("no value: %v", err)
	}
}

// A program whose window length or slide changed cannot read the stored
// windows: refused at start, naming both; Named starts the changed one
// empty. A changed lateness or mode goes on from the stored state.
func TestEventTimeWindowChangedLength(t *testing.T) {
	script := eventTimeScript(rand.New(rand.NewPCG(5, 5)), 12, 2, 2)
	store := newMemStore()
	start := func(w EventTimeWindow, planned int64, name string) *Context {
		ssc, in := resumeScript(t, nil, store, script)
		in.planned = planned
		counts, err := CountByEventTimeWindow(in.src.Stream(), itemTime, w)
		if err != nil {
			t.Fatal(err)
		}
		out := counts.Windows()
		if name != "" {
			out = out.Named(name)
		}
		ForeachBatch(out, func(context.Context, *BatchData[Windowed[int64]]) error { return nil })
		return ssc
	}
	if err := runUntil(t, start(EventTimeWindow{Length: 10 * time.Second}, 0, ""), 4); err != nil {
		t.Fatal(err)
	}
	err := runUntil(t, start(EventTimeWindow{Length: 20 * time.Second}, 4, ""), 6)
	var ce *CheckpointError
	for _, want := range []string{`stream "CountByEventTimeWindow#1"`, "of 10s sliding 10s", "of 20s sliding 20s", "Named"} {
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("a changed length: %v; want a CheckpointError saying %q", err, want)
		}
	}
	if err := runUntil(t, start(EventTimeWindow{Length: 10 * time.Second, AllowedLateness: time.Minute, Mode: AppendMode}, 4, ""), 6); err != nil {
		t.Errorf("a changed lateness and mode: %v", err)
	}
	if err := runUntil(t, start(EventTimeWindow{Length: 20 * time.Second}, 6, "counts-20s"), 8); err != nil {
		t.Errorf("a changed length, renamed: %v", err)
	}
}
