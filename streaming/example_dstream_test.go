package streaming_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// lines is an Input of scripted batches of text, one slice per partition:
// what eventhubs.Events is for a hub. Its positions count lines.
type lines struct {
	batches [][][]string
	src     *streaming.Source[string]
	next    []int64
	planned int
}

func (l *lines) Identity() streaming.Identity { return streaming.Identity{"kind": "lines"} }
func (l *lines) Stop()                        {}
func (l *lines) Start(ctx context.Context, resume map[string]int64) error {
	l.next = make([]int64, len(l.batches[0]))
	return nil
}

func (l *lines) Plan(ctx context.Context, _ time.Time) (streaming.Plan, error) {
	var p streaming.Plan
	for i := range l.next {
		n := int64(0)
		if l.planned < len(l.batches) {
			n = int64(len(l.batches[l.planned][i]))
		}
		p.Ranges = append(p.Ranges, streaming.Range{Source: "lines", Partition: strconv.Itoa(i), From: l.next[i], Until: l.next[i] + n})
		l.next[i] += n
	}
	l.planned++
	return p, nil
}

func (l *lines) Run(ctx context.Context, b *streaming.Batch) (streaming.Result, error) {
	parts := make([][]string, len(l.next))
	if int(b.Number) <= len(l.batches) {
		parts = l.batches[b.Number-1]
	}
	return streaming.Result{}, l.src.Feed(ctx, streaming.SlicePartitions(parts))
}

// example runs build's pipeline over batches, with a checkpoint in a
// temporary directory, until the last batch.
func example(batches [][][]string, build func(ssc *streaming.Context, text streaming.DStream[string])) {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ssc, err := streaming.NewContext(time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		log.Fatal(err)
	}
	store, err := streaming.NewDirStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	ssc.Checkpoint(store)
	in := &lines{batches: batches}
	if err := ssc.AddInput(in); err != nil {
		log.Fatal(err)
	}
	if in.src, err = streaming.NewSource[string](ssc, in); err != nil {
		log.Fatal(err)
	}
	build(ssc, in.src.Stream())
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if b.Number == int64(len(batches)) {
			ssc.Stop(true)
		}
	}))
	if err := ssc.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// print is an output that prints each batch's values, sorted.
func print[T any](ds streaming.DStream[T]) {
	streaming.ForeachBatch(ds, func(ctx context.Context, b *streaming.BatchData[T]) error {
		vals, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = fmt.Sprint(v)
		}
		slices.Sort(s)
		fmt.Println(strings.TrimSpace(fmt.Sprintf("batch %d: %s", b.Number(), strings.Join(s, " "))))
		return nil
	})
}

var twoBatches = [][][]string{
	{{"a b", "b"}, {"c a"}},
	{{"b"}, {}},
}

// A word count: the typed pipeline of Spark's streaming word count.
func ExampleReduceByKey() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		words := streaming.FlatMap(text, func(line string) iter.Seq[string] { return strings.FieldsSeq(line) })
		pairs := streaming.Map(words, func(w string) streaming.KV[string, int] { return streaming.KV[string, int]{Key: w, Value: 1} })
		print(streaming.ReduceByKey(pairs, func(a, b int) int { return a + b }))
	})
	// Output:
	// batch 1: {a 2} {b 2} {c 1}
	// batch 2: {b 1}
}

func ExampleMap() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		print(streaming.Map(text, strings.ToUpper))
	})
	// Output:
	// batch 1: A B B C A
	// batch 2: B
}

func ExampleFlatMap() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		print(streaming.FlatMap(text, func(line string) iter.Seq[string] { return strings.FieldsSeq(line) }))
	})
	// Output:
	// batch 1: a a b b c
	// batch 2: b
}

func ExampleFilter() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		print(streaming.Filter(text, func(line string) bool { return strings.Contains(line, "a") }))
	})
	// Output:
	// batch 1: a b c a
	// batch 2:
}

// One call per partition task: lines per partition.
func ExampleMapPartitions() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		print(streaming.MapPartitions(text, func(ctx context.Context, lines iter.Seq[string], emit func(int)) error {
			n := 0
			for range lines {
				n++
			}
			emit(n)
			return nil
		}))
	})
	// Output:
	// batch 1: 1 2
	// batch 2: 0 1
}

func words(text streaming.DStream[string]) streaming.DStream[streaming.KV[string, string]] {
	w := streaming.FlatMap(text, func(line string) iter.Seq[string] { return strings.FieldsSeq(line) })
	return streaming.Map(w, func(w string) streaming.KV[string, string] { return streaming.KV[string, string]{Key: w, Value: w} })
}

func ExampleCountByKey() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		print(streaming.CountByKey(words(text)))
	})
	// Output:
	// batch 1: {a 2} {b 2} {c 1}
	// batch 2: {b 1}
}

func ExampleGroupByKey() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		print(streaming.GroupByKey(words(text)))
	})
	// Output:
	// batch 1: {a [a a]} {b [b b]} {c [c]}
	// batch 2: {b [b]}
}

var sixBatches = [][][]string{{{"a"}}, {{"b", "a"}}, {{}}, {{"c"}}, {{"a"}}, {{}}}

// Counts per word over the last 3 batches, every 2 batches; the inverse
// keeps the window up to date instead of merging 3 maps each time.
func ExampleReduceByKeyAndWindow() {
	example(sixBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		pairs := streaming.Map(text, func(w string) streaming.KV[string, int] { return streaming.KV[string, int]{Key: w, Value: 1} })
		iv := ssc.BatchInterval()
		counts, err := streaming.ReduceByKeyAndWindow(pairs, func(a, b int) int { return a + b }, func(a, b int) int { return a - b }, 3*iv, 2*iv)
		if err != nil {
			log.Fatal(err)
		}
		print(counts)
	})
	// Output:
	// batch 2: {a 2} {b 1}
	// batch 4: {a 1} {b 1} {c 1}
	// batch 6: {a 1} {c 1}
}

func ExampleCountByWindow() {
	example(sixBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		iv := ssc.BatchInterval()
		n, err := streaming.CountByWindow(text, 3*iv, 3*iv)
		if err != nil {
			log.Fatal(err)
		}
		print(n)
	})
	// Output:
	// batch 3: 3
	// batch 6: 2
}

func ExampleWindow() {
	example(sixBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		iv := ssc.BatchInterval()
		w, err := streaming.Window(text, 2*iv, 3*iv)
		if err != nil {
			log.Fatal(err)
		}
		print(w)
		fmt.Println("interval:", int64(w.Interval()/iv), "batches")
	})
	// Output:
	// interval: 3 batches
	// batch 3: a b
	// batch 6: a
}

// Running counts per word; a word idle for 2 batches is dropped.
func ExampleMapWithState() {
	example(sixBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		pairs := streaming.Map(text, func(w string) streaming.KV[string, int] { return streaming.KV[string, int]{Key: w, Value: 1} })
		counts, err := streaming.MapWithState(pairs, streaming.StateSpec[string, int, int, string]{
			Func: func(word string, one int, state *streaming.State[int]) string {
				n, _ := state.Get()
				if state.TimingOut() {
					return fmt.Sprintf("%s:dropped", word)
				}
				state.Update(n + one)
				return fmt.Sprintf("%s:%d", word, n+one)
			},
			Timeout: 2 * ssc.BatchInterval(),
			Initial: map[string]int{"a": 10},
		})
		if err != nil {
			log.Fatal(err)
		}
		print(counts.Named("word-counts"))
	})
	// Output:
	// batch 1: a:11
	// batch 2: a:12 b:1
	// batch 3:
	// batch 4: a:dropped b:dropped c:1
	// batch 5: a:1
	// batch 6: c:dropped
}

func ExampleState() {
	var s streaming.State[int] // as MapWithState hands it to its function
	fmt.Println(s.Exists())
	s.Update(3)
	v, ok := s.Get()
	fmt.Println(v, ok, s.TimingOut())
	s.Remove()
	fmt.Println(s.Exists())
	// Output:
	// false
	// 3 true false
	// false
}

// The guide's pattern on a typed stream: each batch's results and the
// ranges it read, in one transaction (here, a map).
func ExampleForeachBatch() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		streaming.ForeachBatch(text, func(ctx context.Context, b *streaming.BatchData[string]) error {
			var n atomic.Int64 // partitions run in parallel
			err := b.ForeachPartition(ctx, func(ctx context.Context, part int, lines iter.Seq[string]) error {
				for range lines {
					n.Add(1)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Printf("batch %d (replay %v, due %v): %d lines, ranges %v\n", b.Number(), b.Replay(), !b.Time().IsZero(), n.Load(), b.OffsetRanges())
			return nil
		})
	})
	// Output:
	// batch 1 (replay false, due true): 3 lines, ranges [lines 0 0 2 lines 1 0 1]
	// batch 2 (replay false, due true): 1 lines, ranges [lines 0 2 3 lines 1 1 1]
}

func ExampleNewSource() {
	ssc, err := streaming.NewContext(time.Second, nil)
	if err != nil {
		log.Fatal(err)
	}
	in := &lines{batches: twoBatches}
	ssc.AddInput(in)
	src, err := streaming.NewSource[string](ssc, in) // in.Run calls src.Feed each batch
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(src.Stream().Interval())
	// Output: 1s
}

func ExampleSlicePartitions() {
	parts := streaming.SlicePartitions([][]string{{"a", "b"}, {"c"}})
	counts := make([]int, parts.Len())
	parts.Each(context.Background(), func(ctx context.Context, part int, items iter.Seq[string]) error {
		counts[part] = len(slices.Collect(items))
		return nil
	})
	fmt.Println(counts)
	// Output: [2 1]
}

type committed struct{}

func (committed) Error() string          { return "committed already" }
func (committed) AlreadyCommitted() bool { return true }

func ExampleIsAlreadyCommitted() {
	fmt.Println(streaming.IsAlreadyCommitted(fmt.Errorf("batch 7: %w", committed{})))
	fmt.Println(streaming.IsAlreadyCommitted(errors.New("disk full")))
	// Output:
	// true
	// false
}

// A DirStore keeps state files beside its checkpoint; the Context writes,
// reads and removes them.
func ExampleDirStore_WriteState() {
	dir, _ := os.MkdirTemp("", "state")
	defer os.RemoveAll(dir)
	store, err := streaming.NewDirStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"state-000000000001-x.full", "state-000000000002-x.full"} {
		if err := store.WriteState(ctx, name, []byte(name)); err != nil {
			log.Fatal(err)
		}
	}
	b, _ := store.ReadState(ctx, "state-000000000002-x.full")
	fmt.Println(string(b))
	store.RemoveState(ctx, []string{"state-000000000002-x.full"}) // older files go
	_, err = store.ReadState(ctx, "state-000000000001-x.full")
	fmt.Println(err != nil)
	entries, _ := os.ReadDir(dir)
	fmt.Println(slices.Collect(maps.Keys(map[string]bool{entries[0].Name(): true})))
	// Output:
	// state-000000000002-x.full
	// true
	// [state-000000000002-x.full]
}
