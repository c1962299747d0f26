package streaming

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wanted is an oracle's outputs: per output name and batch, the values,
// formatted as the recorder formats them.
type wanted map[string]map[int64][]string

func (w wanted) put(name string, n int64, vals []string) {
	if w[name] == nil {
		w[name] = map[int64][]string{}
	}
	slices.Sort(vals)
	w[name][n] = vals
}

// opsPipeline registers the operations of ops.go, join.go, windowops.go
// and updatestate.go on src, each with an output into rec.
func opsPipeline(t testing.TB, ssc *Context, src DStream[item], p params, rec *recorder) {
	t.Helper()
	simpleOps(t, src, rec)
	joinOps(t, src, rec)
	windowOps(t, ssc, src, p, rec)
	stateOps(t, src, rec)
}

// opsOracle computes what opsPipeline's outputs see, one batch after the
// other, in the plainest way.
func opsOracle(script [][][]item, p params) map[string]map[int64][]string {
	want := wanted{}
	var all [][]item // per batch, partitions in order
	state := newStateOracle()
	for i, parts := range script {
		n := int64(i + 1)
		all = append(all, slices.Concat(parts...))
		simpleOracle(want, n, parts)
		joinOracle(want, n, parts)
		windowOracle(want, n, all, p)
		state.batch(want, n, all[n-1])
	}
	return want
}

// pair is the combiner of the CombineByKey test: a sum and a count.
type pair struct{ Sum, N int }

func simpleOps(t testing.TB, src DStream[item], rec *recorder) {
	t.Helper()
	record(rec, "mapValues", MapValues(src, func(v int) string { return fmt.Sprint(v * 3) }))
	record(rec, "count", Count(src))
	values := Map(src, func(kv item) int { return kv.Value })
	record(rec, "reduce", Reduce(values, func(a, b int) int { return a + b }))
	record(rec, "countByValue", CountByValue(Map(src, func(kv item) string { return kv.Key })))
	record(rec, "combineByKey", CombineByKey(src, func(v int) pair { return pair{v, 1} },
		func(c pair, v int) pair { return pair{c.Sum + v, c.N + 1} },
		func(a, b pair) pair { return pair{a.Sum + b.Sum, a.N + b.N} }))
	u, err := Union(Filter(src, func(kv item) bool { return kv.Value > 0 }), MapValues(src, func(v int) int { return -v }))
	if err != nil {
		t.Fatal(err)
	}
	record(rec, "union", u)
	record(rec, "transform", Transform(src, func(ctx context.Context, b *BatchData[item]) (Partitions[string], error) {
		items, err := b.Collect(ctx)
		var out []string
		for _, kv := range items {
			out = append(out, fmt.Sprintf("%d:%s:%d", b.Number(), kv.Key, kv.Value))
		}
		return SlicePartitions([][]string{out}), err
	}))
}

func simpleOracle(want wanted, n int64, parts [][]item) {
	batch := slices.Concat(parts...)
	var mv, rd, un, tr, cv, cb []string
	sum, keys, combined := 0, map[string]int64{}, map[string]pair{}
	for _, kv := range batch {
		mv = append(mv, fmtJSON(KV[string, string]{Key: kv.Key, Value: fmt.Sprint(kv.Value * 3)}))
		sum += kv.Value
		keys[kv.Key]++
		c := combined[kv.Key]
		combined[kv.Key] = pair{c.Sum + kv.Value, c.N + 1}
		if kv.Value > 0 {
			un = append(un, fmtJSON(kv))
		}
		un = append(un, fmtJSON(item{Key: kv.Key, Value: -kv.Value}))
		tr = append(tr, fmtJSON(fmt.Sprintf("%d:%s:%d", n, kv.Key, kv.Value)))
	}
	if len(batch) > 0 {
		rd = []string{fmtJSON(sum)}
	}
	for k, c := range keys {
		cv = append(cv, fmtJSON(KV[string, int64]{Key: k, Value: c}))
		cb = append(cb, fmtJSON(KV[string, pair]{Key: k, Value: combined[k]}))
	}
	want.put("mapValues", n, mv)
	want.put("count", n, []string{fmtJSON(len(batch))})
	want.put("reduce", n, rd)
	want.put("union", n, un)
	want.put("transform", n, tr)
	want.put("countByValue", n, cv)
	want.put("combineByKey", n, cb)
}

// The operations give the oracle's results, batch for batch, over random
// scripts, keys, partitions, batch sizes, window lengths and slides.
func TestOpsMatchOracle(t *testing.T) { matchOracle(t, 26, opsPipeline, opsOracle) }

// A crash at any batch replays it from the state of the batch before:
// what a transactional output commits equals the oracle's.
func TestOpsCrashReplay(t *testing.T) { crashReplay(t, 2626, opsPipeline, opsOracle) }

// A batch retried after an output failed undoes the failed run's state
// and redoes it: the results equal the oracle's.
func TestOpsRetry(t *testing.T) { retriedMatchOracle(t, opsPipeline, opsOracle) }

// Union refuses streams of two inputs, and streams with data at other
// batches, saying why and what to do.
func TestUnionRefusesOtherPipelines(t *testing.T) {
	ssc := newTestContext(t, time.Second)
	a := newScriptInput(t, ssc, [][][]item{{nil}}).src.Stream()
	other := &scriptInput{script: [][][]item{{nil}}, parts: 1}
	if err := ssc.AddInput(other); err != nil {
		t.Fatal(err)
	}
	// An input of the same kind is another input all the same.
	b, err := NewSource[item](ssc, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Union(a, b.Stream()); err == nil || !strings.Contains(err.Error(), "come from different inputs") {
		t.Errorf("Union of two inputs: %v", err)
	}
	w, err := Window(a, 2*time.Second, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Union(a, w); err == nil || !strings.Contains(err.Error(), "every 1s and every 2s; window them to the same slide") {
		t.Errorf("Union of a stream and its window: %v", err)
	}
	if _, err := Union[item](); err == nil {
		t.Error("Union of nothing: no error")
	}
}

// Print prints each batch's time and first items, in partition order,
// and "..." when there are more.
func TestPrint(t *testing.T) {
	script := [][][]item{{{{"a", 1}, {"b", 2}}, {{"c", 3}}}, {nil, nil}, {{{"d", 4}}, nil}}
	ssc := newTestContext(t, testInterval)
	in := newScriptInput(t, ssc, script)
	var times []time.Time
	ForeachBatch(in.src.Stream(), func(ctx context.Context, b *BatchData[item]) error {
		times = append(times, b.Time())
		return nil
	})
	var out bytes.Buffer
	Print(MapValues(in.src.Stream(), func(v int) int { return v * 10 }), &PrintOptions{Num: 2, Writer: &out})
	if err := runUntil(t, ssc, 3); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	line := strings.Repeat("-", 43) + "\n"
	for i, items := range []string{"{a 10}\n{b 20}\n...\n", "", "{d 40}\n"} {
		fmt.Fprintf(&want, "%sTime: %d ms\n%s%s\n", line, times[i].UnixMilli(), line, items)
	}
	if got := out.String(); !strings.HasPrefix(got, want.String()) {
		t.Fatalf("printed\n%s\nwant first\n%s", got, want.String())
	}
}

// countingParts counts the reads of a batch's partitions.
type countingParts struct {
	Partitions[item]
	reads *atomic.Int64
}

func (c countingParts) Each(ctx context.Context, task func(ctx context.Context, part int, items iter.Seq[item]) error) error {
	return c.Partitions.Each(ctx, func(ctx context.Context, part int, items iter.Seq[item]) error {
		c.reads.Add(1)
		return task(ctx, part, items)
	})
}

// A cached stream used by a window, a stateful step and an output reads
// each partition of each batch once; the same pipeline without Cache
// reads it once per use.
func TestCacheReadsEachBatchOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 26))
	script := randomScript(r, 12, 3, 4)
	for _, cached := range []bool{true, false} {
		ssc := newTestContext(t, testInterval)
		if err := ssc.Checkpoint(newMemStore()); err != nil {
			t.Fatal(err)
		}
		in := newScriptInput(t, ssc, script)
		var reads atomic.Int64
		// The input's partitions, counted: each read is one of the hub.
		counted := Transform(in.src.Stream(), func(ctx context.Context, b *BatchData[item]) (Partitions[item], error) {
			return countingParts{Partitions: partitionsOf(b), reads: &reads}, nil
		})
		ds := counted
		if cached {
			ds = Cache(counted)
		}
		rec := newRecorder()
		w, err := ReduceByKeyAndWindow(ds, sum[int], nil, 3*testInterval, testInterval)
		if err != nil {
			t.Fatal(err)
		}
		record(rec, "window", w)
		record(rec, "count", Count(ds))
		ms, err := MapWithState(ds, StateSpec[string, int, int, int]{Func: func(k string, v int, st *State[int]) int { return v }})
		if err != nil {
			t.Fatal(err)
		}
		record(rec, "state", ms)
		if err := runUntil(t, ssc, int64(len(script))); err != nil {
			t.Fatal(err)
		}
		uses := int64(3)
		if cached {
			uses = 1
		}
		// Batches after the script's end read empty partitions all the same.
		batches := int64(len(rec.seen["count"]))
		if got, want := reads.Load(), batches*3*uses; got != want {
			t.Errorf("cached %v: %d partition reads in %d batches of 3 partitions, want %d", cached, got, batches, want)
		}
	}
}

// partitionsOf is a batch's data as Partitions, read when a task reads it.
func partitionsOf[T any](b *BatchData[T]) Partitions[T] { return datasetParts[T]{b.d} }

type datasetParts[T any] struct{ d dataset[T] }

func (p datasetParts[T]) Len() int { return p.d.parts }
func (p datasetParts[T]) Each(ctx context.Context, task func(ctx context.Context, part int, items iter.Seq[T]) error) error {
	return p.d.each(ctx, task)
}
