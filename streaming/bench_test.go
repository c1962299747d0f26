package streaming

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"
)

// The engine's own cost per stream of 50 batches of 4 partitions, 100
// items each over 100 keys, checkpointed in memory: plan, checkpoint,
// outputs and done-mark of each batch, and the steps of the pipeline.
// The input and the store cost next to nothing, so what is measured is
// runBatch and the pipeline's steps (keyed reduce, windows with and
// without an inverse, 1 minute event-time windows in append mode). An
// item's value is its event time in seconds: 100 s a batch, so windows
// close and are dropped as the batches go.
func BenchmarkStream(b *testing.B) {
	script := make([][][]item, 50)
	for n := range script {
		script[n] = make([][]item, 4)
		for p := range script[n] {
			for i := range 100 {
				script[n][p] = append(script[n][p], item{Key: fmt.Sprintf("k%d", (n*7+p*13+i)%100), Value: n*100 + i})
			}
		}
	}
	sum := func(a, b int) int { return a + b }
	diff := func(a, b int) int { return a - b }
	window := func(inverse func(int, int) int) func(testing.TB, DStream[item]) DStream[item] {
		return func(tb testing.TB, ds DStream[item]) DStream[item] {
			w, err := ReduceByKeyAndWindow(ds, sum, inverse, 10*time.Microsecond, 2*time.Microsecond)
			if err != nil {
				tb.Fatal(err)
			}
			return w
		}
	}
	for _, bc := range []struct {
		name     string
		pipeline func(testing.TB, DStream[item]) DStream[item]
	}{
		{"reduce", func(_ testing.TB, ds DStream[item]) DStream[item] { return ReduceByKey(ds, sum) }},
		{"window", window(nil)},
		{"window-inverse", window(diff)},
		{"event-time", eventTimeBench},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				runScript(b, script, bc.pipeline)
			}
			// CPU time, beside the wall time: on a machine that others
			// share, it varies far less.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// eventTimeBench counts items per key in 1 minute windows of their event
// time, emitted once each (append mode), as items again.
func eventTimeBench(tb testing.TB, ds DStream[item]) DStream[item] {
	w, err := ReduceByKeyAndEventTimeWindow(ds, itemTime, itemPair, func(a, b int) int { return a + b },
		EventTimeWindow{Length: time.Minute, Mode: AppendMode})
	if err != nil {
		tb.Fatal(err)
	}
	return Map(w.Windows(), func(kv WindowedKV[string, int]) item { return item{Key: kv.Key, Value: kv.Value} })
}

// runScript runs script through pipeline and an output that collects
// each batch, every microsecond, until its last batch is done.
func runScript(tb testing.TB, script [][][]item, pipeline func(testing.TB, DStream[item]) DStream[item]) {
	ssc, err := NewContext(time.Microsecond, &ContextOptions{NoBatchLog: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	in := newScriptInput(tb, ssc, script)
	ForeachBatch(pipeline(tb, in.src.Stream()), func(ctx context.Context, b *BatchData[item]) error {
		_, err := b.Collect(ctx)
		return err
	})
	if err := ssc.Checkpoint(newMemStore()); err != nil {
		tb.Fatal(err)
	}
	last := int64(len(script))
	ssc.AddListener(ListenerFunc(func(b BatchInfo) {
		if b.Number >= last {
			ssc.Stop(true)
		}
	}))
	if err := ssc.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
