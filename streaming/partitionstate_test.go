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
)

// memPartitions is a PartitionStateStore in memory, and the transactional
// output that writes to it: positions and state records committed at once,
// as package offsets commits them in one transaction.
type memPartitions struct {
	mu    sync.Mutex
	pos   map[string]int64
	recs  map[string][]StateRecord
	loads int // LoadPartitionState calls
}

func newMemPartitions() *memPartitions {
	return &memPartitions{pos: map[string]int64{}, recs: map[string][]StateRecord{}}
}

func (m *memPartitions) LoadPartitionState(ctx context.Context, partition string) (*StoredState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	pos, ok := m.pos[partition]
	return &StoredState{Position: pos, Positioned: ok, Records: slices.Clone(m.recs[partition])}, nil
}

// commit stores a batch's positions and state records; a whole record
// replaces its step's records before it.
func (m *memPartitions) commit(ranges []Range, recs []StateRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range ranges {
		m.pos[r.Partition] = r.Until
	}
	for _, rec := range recs {
		if rec.Full {
			m.recs[rec.Partition] = slices.DeleteFunc(m.recs[rec.Partition], func(old StateRecord) bool { return old.Step == rec.Step })
		}
		m.recs[rec.Partition] = append(m.recs[rec.Partition], rec)
	}
}

// storeOutput registers an output that commits each batch's positions and
// state records to m, and records the batch's items.
func storeOutput[T any](m *memPartitions, rec *recorder, name string, ds DStream[T]) {
	ForeachBatch(ds, func(ctx context.Context, b *BatchData[T]) error {
		vals, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		recs, err := b.StateRecords()
		if err != nil {
			return err
		}
		m.commit(b.OffsetRanges(), recs)
		rec.put(name, b.Number(), vals)
		return nil
	})
}

// partitionScript is script's partition p alone.
func partitionScript(script [][][]item, p int) [][][]item {
	out := make([][][]item, len(script))
	for n := range script {
		out[n] = [][]item{script[n][p]}
	}
	return out
}

// oraclePerPartition is what windows and running totals kept per
// partition emit: each partition's own oracle, merged batch by batch.
func oraclePerPartition(script [][][]item, w EventTimeWindow) map[string]map[int64][]string {
	out := map[string]map[int64][]string{"windows": {}, "late": {}, "totals": {}}
	merge := func(name string, n int64, vals []string) {
		out[name][n] = append(out[name][n], vals...)
		slices.Sort(out[name][n])
	}
	for p := range script[0] {
		res := oracleEventTime(partitionScript(script, p), w, true)
		sums := map[string]int{}
		for i := range script {
			n := int64(i + 1)
			merge("windows", n, res.windows[n])
			merge("late", n, res.late[n])
			var totals []string
			for _, kv := range script[i][p] {
				sums[kv.Key] += kv.Value
				totals = append(totals, fmtJSON(fmt.Sprintf("%s=%d", kv.Key, sums[kv.Key])))
			}
			merge("totals", n, totals)
		}
	}
	return out
}

// partitionPipeline is an event-time window and running totals, both
// kept per partition in m; the window's output stores the state.
func partitionPipeline(t *testing.T, ssc *Context, src DStream[item], w EventTimeWindow, m *memPartitions, rec *recorder) {
	t.Helper()
	keyed, err := ReduceByKeyAndEventTimeWindow(src, itemTime, itemPair, func(a, b int) int { return a + b }, w)
	if err != nil {
		t.Fatal(err)
	}
	totals, err := MapWithState(src, StateSpec[string, int, int, string]{Func: func(k string, v int, s *State[int]) string {
		sum, _ := s.Get()
		s.Update(sum + v)
		return fmt.Sprintf("%s=%d", k, sum+v)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := KeepStatePerPartition(src, m); err != nil {
		t.Fatal(err)
	}
	storeOutput(m, rec, "windows", keyed.Windows())
	record(rec, "late", keyed.Late())
	record(rec, "totals", totals)
}

// Event-time windows and MapWithState keeping their state per partition
// give each partition's own oracle (its own watermark), also when the
// stream stops at a random batch and a new Context, with no checkpoint,
// goes on from the stored positions and loads the state.
func TestStatePerPartitionMatchesOracle(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 6
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 2626))
		w := eventTimeParams(r)
		script := eventTimeScript(r, 12+r.IntN(20), 2+r.IntN(3), 1+r.IntN(5))
		stop := int64(1 + r.IntN(len(script)-1))
		what := fmt.Sprintf("seed %d (%d batches of %d partitions, stop after %d, %+v)", seed, len(script), len(script[0]), stop, w)
		m := newMemPartitions()
		got := map[string]map[int64][]string{}
		for run, last := range []int64{stop, int64(len(script))} {
			ssc, err := NewContext(testInterval, &ContextOptions{NoBatchLog: true})
			if err != nil {
				t.Fatal(err)
			}
			in := newScriptInput(t, ssc, script)
			first := int64(0)
			if run == 1 {
				first = stop
				in.planned, in.first, in.startAt = stop, stop, m.pos
			}
			rec := newRecorder()
			partitionPipeline(t, ssc, in.src.Stream(), w, m, rec)
			if err := runUntil(t, ssc, last-first); err != nil {
				t.Fatalf("%s: run %d: %v", what, run, err)
			}
			for name, batches := range rec.seen {
				if got[name] == nil {
					got[name] = map[int64][]string{}
				}
				for n, vals := range batches {
					if n <= last-first {
						got[name][n+first] = vals
					}
				}
			}
		}
		compare(t, what, got, oraclePerPartition(script, w))
	}
}

// What cannot keep state per partition is refused when the Context runs,
// naming the step and the cure; a batch whose state no output stored
// fails; a stored state ahead of the batch is a stale range.
func TestStatePerPartitionRefusals(t *testing.T) {
	script := [][][]item{{{{Key: "a", Value: 1}}, {{Key: "b", Value: 2}}}, {{{Key: "a", Value: 3}}, nil}}
	run := func(t *testing.T, build func(src DStream[item], m *memPartitions), m *memPartitions, startAt map[string]int64) error {
		t.Helper()
		ssc, err := NewContext(testInterval, &ContextOptions{NoBatchLog: true})
		if err != nil {
			t.Fatal(err)
		}
		in := newScriptInput(t, ssc, script)
		in.startAt = startAt
		build(in.src.Stream(), m)
		if err := KeepStatePerPartition(in.src.Stream(), m); err != nil {
			t.Fatal(err)
		}
		return runUntil(t, ssc, 2)
	}
	sum := func(a, b int) int { return a + b }
	totals := func(src DStream[item]) DStream[string] {
		ds, err := MapWithState(src, StateSpec[string, int, int, string]{Func: func(k string, v int, s *State[int]) string { return k }})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	cases := []struct {
		name    string
		build   func(src DStream[item], m *memPartitions)
		startAt map[string]int64
		want    string
	}{
		{"batch-counted window", func(src DStream[item], m *memPartitions) {
			ds, err := ReduceByKeyAndWindow(src, sum, nil, 2*testInterval, testInterval)
			if err != nil {
				t.Fatal(err)
			}
			storeOutput(m, newRecorder(), "w", ds)
		}, nil, "counts the batches of one process"},
		{"after a keyed step", func(src DStream[item], m *memPartitions) {
			ds, err := MapWithState(ReduceByKey(src, sum), StateSpec[string, int, int, string]{Func: func(k string, v int, s *State[int]) string { return k }})
			if err != nil {
				t.Fatal(err)
			}
			storeOutput(m, newRecorder(), "w", ds)
		}, nil, "items moved between partitions"},
		{"no output stores the state", func(src DStream[item], m *memPartitions) {
			record(newRecorder(), "w", totals(src))
		}, nil, "no output stored the batch's state"},
		{"a gap before the batch", func(src DStream[item], m *memPartitions) {
			m.commit([]Range{{Partition: "0", Until: 0}}, nil)
			storeOutput(m, newRecorder(), "w", totals(src))
		}, map[string]int64{"0": 1}, "the state would miss events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(t, c.build, newMemPartitions(), c.startAt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v, want an error saying %q", err, c.want)
			}
		})
	}
	t.Run("stale", func(t *testing.T) {
		m := newMemPartitions()
		m.commit([]Range{{Partition: "1", Until: 7}}, nil)
		err := run(t, func(src DStream[item], m *memPartitions) { storeOutput(m, newRecorder(), "w", totals(src)) }, m, nil)
		var stale *StaleStateError
		if !errors.As(err, &stale) || stale.StalePartition() != "1" || stale.Stored != 7 || stale.From != 0 {
			t.Fatalf("Run: %v, want a StaleStateError of partition 1 stored at 7", err)
		}
	})
}

// A batch retried after an output that did not store the state failed
// completes: the output that stored it in the first attempt is not run
// again, and the state is as the oracle says. Two outputs storing the
// state of one batch are refused: one transaction must hold it.
func TestStatePerPartitionRetryAndTwoStorers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 26))
	script := eventTimeScript(r, 12, 3, 3)
	w := EventTimeWindow{Length: 4e9, AllowedLateness: 3e9}
	m := newMemPartitions()
	ssc, err := NewContext(testInterval, &ContextOptions{NoBatchLog: true, Retry: retryFew})
	if err != nil {
		t.Fatal(err)
	}
	in := newScriptInput(t, ssc, script)
	rec := newRecorder()
	partitionPipeline(t, ssc, in.src.Stream(), w, m, rec)
	var mu sync.Mutex
	failed := map[int64]bool{}
	ForeachBatch(in.src.Stream(), func(ctx context.Context, b *BatchData[item]) error {
		mu.Lock()
		defer mu.Unlock()
		if b.Number()%3 == 0 && !failed[b.Number()] {
			failed[b.Number()] = true
			return errors.New("the second output fails once")
		}
		return nil
	})
	if err := runUntil(t, ssc, int64(len(script))); err != nil {
		t.Fatal(err)
	}
	compare(t, "with retries", rec.seen, oraclePerPartition(script, w))
	if len(failed) < 3 {
		t.Fatalf("the second output failed in %d batches, want at least 3", len(failed))
	}

	ssc, err = NewContext(testInterval, &ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	in = newScriptInput(t, ssc, script)
	partitionPipeline(t, ssc, in.src.Stream(), w, newMemPartitions(), newRecorder())
	storeOutput(newMemPartitions(), newRecorder(), "again", in.src.Stream())
	if err := runUntil(t, ssc, 3); err == nil || !strings.Contains(err.Error(), "2 outputs stored") {
		t.Fatalf("two outputs storing the state: %v, want an error saying so", err)
	}
}

// A pipeline of two steps keeping state per partition reads each
// partition's stored state once when it starts, not once per step.
func TestStatePerPartitionLoadsOncePerPartition(t *testing.T) {
	script := eventTimeScript(rand.New(rand.NewPCG(3, 26)), 6, 3, 2)
	m := newMemPartitions()
	ssc, err := NewContext(testInterval, &ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	in := newScriptInput(t, ssc, script)
	partitionPipeline(t, ssc, in.src.Stream(), EventTimeWindow{Length: 4e9}, m, newRecorder())
	if err := runUntil(t, ssc, int64(len(script))); err != nil {
		t.Fatal(err)
	}
	if m.loads != 3 {
		t.Fatalf("%d loads of stored state for 3 partitions and 2 steps, want 3", m.loads)
	}
}
