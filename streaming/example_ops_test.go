package streaming_test

import (
	"fmt"
	"iter"
	"strings"

	"github.com/ehstream/ehstream/streaming"
)

// wordPairs is each word of the text with 1.
func wordPairs(text streaming.DStream[string]) streaming.DStream[streaming.KV[string, int]] {
	w := streaming.FlatMap(text, func(line string) iter.Seq[string] { return strings.FieldsSeq(line) })
	return streaming.Map(w, func(w string) streaming.KV[string, int] { return streaming.KV[string, int]{Key: w, Value: 1} })
}

// One read of each batch for two outputs: without Cache, each would read
// the batch from the input (from the hub) again.
func ExampleCache() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		pairs := streaming.Cache(wordPairs(text))
		print(streaming.Count(pairs))
		print(streaming.ReduceByKey(pairs, func(a, b int) int { return a + b }))
	})
	// Output:
	// batch 1: 5
	// batch 1: {a 2} {b 2} {c 1}
	// batch 2: 1
	// batch 2: {b 1}
}

// Words of lines with an "a" joined to words of the others, by word.
func ExampleLeftOuterJoin() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		withA := wordPairs(streaming.Filter(text, func(l string) bool { return strings.Contains(l, "a") }))
		others := wordPairs(streaming.Filter(text, func(l string) bool { return !strings.Contains(l, "a") }))
		joined, err := streaming.LeftOuterJoin(streaming.ReduceByKey(withA, func(a, b int) int { return a + b }), others)
		if err != nil {
			fmt.Println(err)
			return
		}
		print(joined)
	})
	// Output:
	// batch 1: {a {2 {0 false}}} {b {1 {1 true}}} {c {1 {0 false}}}
	// batch 2:
}

// Running word counts that fade: a word without new occurrences loses one
// each batch, and goes at 0.
func ExampleUpdateStateByKey() {
	example(append(twoBatches, [][]string{{}, {}}, [][]string{{}, {}}), func(ssc *streaming.Context, text streaming.DStream[string]) {
		counts, err := streaming.UpdateStateByKey(wordPairs(text), func(word string, ones []int, n streaming.Optional[int]) streaming.Optional[int] {
			switch {
			case len(ones) > 0:
				return streaming.Some(n.Value + len(ones))
			case n.Value > 1:
				return streaming.Some(n.Value - 1)
			}
			return streaming.Optional[int]{} // faded
		}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		print(counts)
	})
	// Output:
	// batch 1: {a 2} {b 2} {c 1}
	// batch 2: {a 1} {b 3}
	// batch 3: {b 2}
	// batch 4: {b 1}
}

// Every word's count so far, each batch, beside what MapWithState emits.
func ExampleStateSnapshots() {
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		totals, err := streaming.MapWithState(wordPairs(text), streaming.StateSpec[string, int, int, string]{
			Func: func(word string, one int, st *streaming.State[int]) string {
				n, _ := st.Get()
				st.Update(n + one)
				return word
			},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		snapshots, err := streaming.StateSnapshots[string, int](totals)
		if err != nil {
			fmt.Println(err)
			return
		}
		print(snapshots)
	})
	// Output:
	// batch 1: {a 2} {b 2} {c 1}
	// batch 2: {a 2} {b 3} {c 1}
}

// The words of the last two batches, counted, every batch.
func ExampleCountByValueAndWindow() {
	example(append(twoBatches, [][]string{{"c"}, {}}), func(ssc *streaming.Context, text streaming.DStream[string]) {
		words := streaming.FlatMap(text, func(line string) iter.Seq[string] { return strings.FieldsSeq(line) })
		iv := ssc.BatchInterval()
		counts, err := streaming.CountByValueAndWindow(words, 2*iv, iv)
		if err != nil {
			fmt.Println(err)
			return
		}
		print(counts)
	})
	// Output:
	// batch 1: {a 2} {b 2} {c 1}
	// batch 2: {a 2} {b 3} {c 1}
	// batch 3: {b 1} {c 1}
}

// Print, for trying a pipeline out: its header has the batch's time.
func ExamplePrint() {
	var out strings.Builder
	example(twoBatches, func(ssc *streaming.Context, text streaming.DStream[string]) {
		streaming.Print(text, &streaming.PrintOptions{Num: 2, Writer: &out})
	})
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "Time: ") {
			fmt.Println(line)
		}
	}
	// Output:
	// -------------------------------------------
	// -------------------------------------------
	// a b
	// b
	// ...
	//
	// -------------------------------------------
	// -------------------------------------------
	// b
	//
	//
}
