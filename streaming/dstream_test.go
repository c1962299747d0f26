package streaming

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// params of one random pipeline.
type params struct {
	length, slide int64 // windows, in batches
	timeout       int64 // MapWithState, in batches
}

const testInterval = time.Millisecond

// pipeline registers every transformation on the source, each with an
// output into rec.
func pipeline(t testing.TB, ssc *Context, src DStream[item], p params, rec *recorder) {
	t.Helper()
	iv := ssc.BatchInterval()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	record(rec, "map", Map(src, func(kv item) string { return fmt.Sprintf("%s:%d", kv.Key, kv.Value*2) }))
	record(rec, "filter", Filter(src, func(kv item) bool { return kv.Value > 0 }))
	record(rec, "flatMap", FlatMap(src, func(kv item) iter.Seq[string] {
		return func(yield func(string) bool) {
			for i := range max(kv.Value, 0) % 3 {
				if !yield(fmt.Sprintf("%s.%d", kv.Key, i)) {
					return
				}
			}
		}
	}))
	record(rec, "mapPartitions", MapPartitions(src, func(ctx context.Context, items iter.Seq[item], emit func(int)) error {
		s := 0
		for kv := range items {
			s += kv.Value
		}
		emit(s)
		return nil
	}))
	record(rec, "reduceByKey", ReduceByKey(src, func(a, b int) int { return a + b }))
	record(rec, "countByKey", CountByKey(src))
	record(rec, "groupByKey", GroupByKey(src))

	length, slide := time.Duration(p.length)*iv, time.Duration(p.slide)*iv
	w, err := Window(src, length, slide)
	must(err)
	record(rec, "window", w)
	record(rec, "window.reduceByKey", ReduceByKey(w, func(a, b int) int { return a + b }))
	rw, err := ReduceByKeyAndWindow(src, func(a, b int) int { return a + b }, nil, length, slide)
	must(err)
	record(rec, "reduceByKeyAndWindow", rw)
	rwi, err := ReduceByKeyAndWindow(src, func(a, b int) int { return a + b }, func(a, b int) int { return a - b }, length, slide)
	must(err)
	record(rec, "reduceByKeyAndWindow.inverse", rwi)
	cw, err := CountByWindow(src, length, slide)
	must(err)
	record(rec, "countByWindow", cw)

	ms, err := MapWithState(src, StateSpec[string, int, int, string]{
		Func: func(key string, v int, st *State[int]) string {
			if st.TimingOut() {
				s, _ := st.Get()
				return fmt.Sprintf("%s timed out at %d", key, s)
			}
			s, _ := st.Get()
			s += v
			if s > 12 {
				st.Remove()
				return fmt.Sprintf("%s removed at %d", key, s)
			}
			st.Update(s)
			return fmt.Sprintf("%s=%d", key, s)
		},
		Timeout: time.Duration(p.timeout) * iv,
		Initial: map[string]int{"k0": 5},
	})
	must(err)
	record(rec, "mapWithState", ms)
}

// oracle computes what pipeline's outputs see, one batch after the other,
// in the plainest way.
func oracle(script [][][]item, p params) map[string]map[int64][]string {
	want := map[string]map[int64][]string{}
	put := func(name string, n int64, vals []string) {
		if want[name] == nil {
			want[name] = map[int64][]string{}
		}
		slices.Sort(vals)
		want[name][n] = vals
	}
	var all [][]item // per batch, partitions in order
	state := map[string]int{"k0": 5}
	touched := map[string]int64{"k0": 0}
	for i, parts := range script {
		n := int64(i + 1)
		var batch []item
		for _, items := range parts {
			batch = append(batch, items...)
		}
		all = append(all, batch)
		var m, f, fm, mp, rk, ck, gk []string
		sums, counts, groups := map[string]int{}, map[string]int{}, map[string][]int{}
		for _, kv := range batch {
			m = append(m, fmtJSON(fmt.Sprintf("%s:%d", kv.Key, kv.Value*2)))
			if kv.Value > 0 {
				f = append(f, fmtJSON(kv))
			}
			for j := range max(kv.Value, 0) % 3 {
				fm = append(fm, fmtJSON(fmt.Sprintf("%s.%d", kv.Key, j)))
			}
			sums[kv.Key] += kv.Value
			counts[kv.Key]++
			groups[kv.Key] = append(groups[kv.Key], kv.Value)
		}
		for _, items := range parts {
			s := 0
			for _, kv := range items {
				s += kv.Value
			}
			mp = append(mp, fmtJSON(s))
		}
		for k := range sums {
			rk = append(rk, fmtJSON(item{Key: k, Value: sums[k]}))
			ck = append(ck, fmtJSON(KV[string, int64]{Key: k, Value: int64(counts[k])}))
			gk = append(gk, fmtJSON(KV[string, []int]{Key: k, Value: groups[k]}))
		}
		put("map", n, m)
		put("filter", n, f)
		put("flatMap", n, fm)
		put("mapPartitions", n, mp)
		put("reduceByKey", n, rk)
		put("countByKey", n, ck)
		put("groupByKey", n, gk)

		if n%p.slide == 0 {
			var win []item
			for b := max(n-p.length+1, 1); b <= n; b++ {
				win = append(win, all[b-1]...)
			}
			var w, wr []string
			ws := map[string]int{}
			for _, kv := range win {
				w = append(w, fmtJSON(kv))
				ws[kv.Key] += kv.Value
			}
			for k, v := range ws {
				wr = append(wr, fmtJSON(item{Key: k, Value: v}))
			}
			put("window", n, w)
			put("window.reduceByKey", n, wr)
			put("reduceByKeyAndWindow", n, slices.Clone(wr))
			put("reduceByKeyAndWindow.inverse", n, slices.Clone(wr))
			put("countByWindow", n, []string{fmtJSON(len(win))})
		}

		var ms []string
		seen := map[string]bool{}
		for _, kv := range batch {
			seen[kv.Key] = true
			s := state[kv.Key] // absent: 0
			s += kv.Value
			if s > 12 {
				delete(state, kv.Key)
				ms = append(ms, fmtJSON(fmt.Sprintf("%s removed at %d", kv.Key, s)))
				continue
			}
			state[kv.Key] = s
			ms = append(ms, fmtJSON(fmt.Sprintf("%s=%d", kv.Key, s)))
		}
		for k := range seen {
			if _, ok := state[k]; ok {
				touched[k] = n
			}
		}
		if p.timeout > 0 {
			for k, s := range state {
				if touched[k] <= n-p.timeout {
					ms = append(ms, fmtJSON(fmt.Sprintf("%s timed out at %d", k, s)))
					delete(state, k)
				}
			}
		}
		put("mapWithState", n, ms)
	}
	return want
}

func randomParams(r *rand.Rand) params {
	return params{length: 1 + r.Int64N(6), slide: 1 + r.Int64N(4), timeout: r.Int64N(5)}
}

// Every transformation, window and state gives the oracle's results,
// batch for batch, over random scripts, keys, partitions, batch sizes,
// window lengths and slides.
func TestDStreamMatchesOracle(t *testing.T) { matchOracle(t, 15, pipeline, oracle) }

// matchOracle runs build's pipeline over random scripts and compares what
// its outputs saw with want's oracle.
func matchOracle(t *testing.T, salt uint64, build func(testing.TB, *Context, DStream[item], params, *recorder),
	want func([][][]item, params) map[string]map[int64][]string) {
	t.Helper()
	seeds := 25
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), salt))
		p := randomParams(r)
		script := randomScript(r, 10+r.IntN(25), 1+r.IntN(4), 1+r.IntN(6))
		what := fmt.Sprintf("seed %d (%d batches of %d partitions, window %d slide %d, timeout %d)", seed, len(script), len(script[0]), p.length, p.slide, p.timeout)
		ssc := newTestContext(t, testInterval)
		if err := ssc.Checkpoint(newMemStore()); err != nil {
			t.Fatal(err)
		}
		in := newScriptInput(t, ssc, script)
		rec := newRecorder()
		build(t, ssc, in.src.Stream(), p, rec)
		if err := runUntil(t, ssc, int64(len(script))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		compare(t, what, rec.seen, want(script, p))
	}
}

// committedError says the batch had committed, as offsets.MismatchError
// does when the stored position is the batch's end.
type committedError struct{ batch int64 }

func (e *committedError) Error() string          { return fmt.Sprintf("batch %d committed already", e.batch) }
func (e *committedError) AlreadyCommitted() bool { return true }

// A crash at any batch, before or after the output's commit, replays the
// batch from the state of the batch before; a replayed batch whose output
// says it committed counts as done. Results equal a run without crashes.
func TestDStreamCrashReplay(t *testing.T) { crashReplay(t, 1515, pipeline, oracle) }

// crashReplay crashes runs of build's pipeline at random batches, before
// or after a transactional output commits, and compares what committed
// with want's oracle.
func crashReplay(t *testing.T, salt uint64, build func(testing.TB, *Context, DStream[item], params, *recorder),
	want func([][][]item, params) map[string]map[int64][]string) {
	t.Helper()
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), salt))
		p := randomParams(r)
		script := randomScript(r, 20+r.IntN(20), 1+r.IntN(3), 1+r.IntN(5))
		last := int64(len(script))
		store := newMemStore()
		// The "transaction": what each output committed, per batch.
		committed := map[string]map[int64][]string{}
		crashes := 0
		for run := 0; ; run++ {
			if run > 3*int(last) {
				t.Fatalf("seed %d: no progress", seed)
			}
			crashAt := 1 + r.Int64N(last)
			afterCommit := r.IntN(2) == 0
			ssc := newTestContext(t, testInterval)
			if err := ssc.Checkpoint(store); err != nil {
				t.Fatal(err)
			}
			in := newScriptInput(t, ssc, script)
			if ck, _ := store.Load(context.Background()); ck != nil {
				in.planned = ck.Batch
			}
			rec := newRecorder()
			build(t, ssc, in.src.Stream(), p, rec)
			// One more output: the transactional sink. It commits every
			// output's values of the batch at once, and crashes where told.
			ForeachBatch(in.src.Stream(), func(ctx context.Context, b *BatchData[item]) error {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				for name, batches := range committed {
					if _, ok := batches[b.Number()]; ok {
						return &committedError{batch: b.Number()}
					}
					_ = name
				}
				if b.Number() == crashAt && !afterCommit {
					return errors.New("crash before the commit")
				}
				for name, batches := range rec.seen {
					if vals, ok := batches[b.Number()]; ok {
						if committed[name] == nil {
							committed[name] = map[int64][]string{}
						}
						committed[name][b.Number()] = vals
					}
				}
				if committed["(batches)"] == nil {
					committed["(batches)"] = map[int64][]string{}
				}
				committed["(batches)"][b.Number()] = nil
				if b.Number() == crashAt {
					return errors.New("crash after the commit")
				}
				return nil
			})
			err := runUntil(t, ssc, last)
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "crash") {
				t.Fatalf("seed %d: %v", seed, err)
			}
			crashes++
		}
		delete(committed, "(batches)")
		what := fmt.Sprintf("seed %d (%d batches, window %d slide %d, timeout %d, %d crashes)", seed, last, p.length, p.slide, p.timeout, crashes)
		compare(t, what, committed, want(script, p))
	}
}
