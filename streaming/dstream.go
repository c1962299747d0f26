package streaming

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// DStream is a typed stream: a recipe that each batch applies to the
// batch's partitions, one task per partition, in parallel. It is Spark
// Streaming's DStream in Go. A source (eventhubs.Events, or NewSource for
// any Input) starts one; Map, Filter, ReduceByKey, ReduceByKeyAndWindow,
// MapWithState and the rest derive others; ForeachBatch makes one an
// output. Build the whole pipeline before the Context runs.
//
// Narrow steps (Map, FlatMap, Filter, MapPartitions) run inside the
// partition's task as its items stream by, holding nothing. Keyed steps
// combine within each partition first, then merge across partitions by
// key hash in the process. Windows and MapWithState keep state, which the
// Context checkpoints with each batch's done-mark.
type DStream[T any] struct {
	n *node[T]
}

// node is one step of a pipeline.
type node[T any] struct {
	g *graph
	// every is how many batches apart the step has data: 1 for each batch,
	// a window's slide for a window and what derives from it. A step has
	// data at batch n when n%every == 0 (batches count from 1).
	every int64
	// get computes the step's data of the batch, at batches where it has
	// data. Narrow steps wrap their parent's lazily; keyed and stateful
	// steps return data already computed.
	get func(ctx context.Context, br *batchRun) (dataset[T], error)
	// st is the stateful step that makes the stream, if one does: Named
	// names its state.
	st stateful
	// bySource says the step's partitions are the input's, one per range
	// in order: the source's, and what narrow steps make of them.
	bySource bool
}

func (d DStream[T]) valid() *node[T] {
	if d.n == nil {
		panic("streaming: the zero DStream; make one with a source (eventhubs.Events, streaming.NewSource)")
	}
	return d.n
}

// Interval is the stream's batch interval times how many batches apart it
// has data: the batch interval for most streams, the slide for a window.
func (d DStream[T]) Interval() time.Duration {
	n := d.valid()
	return time.Duration(n.every) * n.g.ctx.interval
}

// dataset is a batch of a step: its partitions, each read by one task.
type dataset[T any] struct {
	parts int
	// each runs task once per partition, each in its own goroutine, and
	// waits for all; it returns the first error of a task or of reading.
	each func(ctx context.Context, task func(ctx context.Context, part int, items iter.Seq[T]) error) error
}

// Partitions is one batch of a source, as an Input hands it to Source.Feed.
type Partitions[T any] interface {
	// Len is the number of partitions.
	Len() int
	// Each runs task once per partition, each in its own goroutine, waits
	// for all, and returns the first error. items yields the partition's
	// items in order; a read that fails ends it, and Each returns the
	// read's error even when task ignored the shortened sequence.
	Each(ctx context.Context, task func(ctx context.Context, part int, items iter.Seq[T]) error) error
}

// SlicePartitions is a batch held in memory, one slice per partition: for
// inputs that read whole partitions at once, and for tests.
func SlicePartitions[T any](parts [][]T) Partitions[T] { return sliceParts[T](parts) }

type sliceParts[T any] [][]T

func (s sliceParts[T]) Len() int { return len(s) }

func (s sliceParts[T]) Each(ctx context.Context, task func(ctx context.Context, part int, items iter.Seq[T]) error) error {
	return parallel.Run(ctx, len(s), func(ctx context.Context, i int) error {
		return task(ctx, i, slices.Values(s[i]))
	})
}

// collect returns the dataset's items, partition by partition, and the
// first error of reading them.
func (d dataset[T]) collect(ctx context.Context) ([]T, error) {
	parts := make([][]T, d.parts)
	err := d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
		parts[part] = slices.Collect(items)
		return nil
	})
	return slices.Concat(parts...), err
}

func fromSlices[T any](parts [][]T) dataset[T] {
	return dataset[T]{parts: len(parts), each: sliceParts[T](parts).Each}
}

// graph is the pipeline fed by one input: its stateful steps, in the order
// made (a step's parents before it), and its outputs, in the order
// registered.
type graph struct {
	ctx      *Context
	input    Input
	buckets  int // partitions of keyed steps: keys are spread over them by hash
	stateful []stateful
	outputs  []func(ctx context.Context, br *batchRun) error
	kinds    map[string]int // stateful steps made, per kind: their default names
	maxEvery int64          // the longest slide of an output: how many batches' ranges outputs may need
	err      []error        // found while the pipeline was made, returned by Run
	// partStore, when set, keeps the stateful steps' state per partition
	// of the input (KeepStatePerPartition) instead of in the checkpoint.
	partStore PartitionStateStore

	// Owned by the goroutine running the stream.
	cur    *batchRun // the running batch, between beginBatch and its end
	fed    bool      // Feed ran for cur
	recent [][]Range // the ranges of the batches before cur, newest last: outputs of windows commit them
}

// batchRun is one batch of a graph.
type batchRun struct {
	number int64
	time   time.Time
	replay bool
	ranges []Range
	source any    // the source's Partitions
	batch  *Batch // what the Context runs: it knows the outputs that completed
	cached cache  // what cached streams (Cache) read of this attempt
	// partState is what steps keeping state per partition changed, for
	// the outputs to store.
	partState *partitionBatch
	// stateLoads are the partitions' stored states this run read.
	stateLoads map[string]*StoredState
}

// Source is the start of a DStream: an Input feeds it each batch's
// partitions from its Run. Package eventhubs makes one for a DirectStream
// (eventhubs.Events); an Input of another system makes its own.
type Source[T any] struct {
	g *graph
	n *node[T]
}

// NewSource returns the DStream source of in, an input of ssc (added with
// AddInput, before or after). in's Run must call Feed once per batch.
func NewSource[T any](ssc *Context, in Input) (*Source[T], error) {
	ssc.mu.Lock()
	defer ssc.mu.Unlock()
	if ssc.running {
		return nil, errRunning
	}
	for _, g := range ssc.graphs {
		if g.input == in {
			return nil, fmt.Errorf("streaming: input %s has a DStream source already; derive every stream of it from that one", in.Identity())
		}
	}
	g := &graph{ctx: ssc, input: in, buckets: max(runtime.GOMAXPROCS(0), 1), kinds: map[string]int{}, maxEvery: 1}
	ssc.graphs = append(ssc.graphs, g)
	n := &node[T]{g: g, every: 1, bySource: true, get: func(ctx context.Context, br *batchRun) (dataset[T], error) {
		p, ok := br.source.(Partitions[T])
		if !ok {
			return dataset[T]{}, fmt.Errorf("streaming: input %s fed its DStream source %T, not Partitions[%s]", in.Identity(), br.source, typeName[T]())
		}
		return dataset[T]{parts: p.Len(), each: p.Each}, nil
	}}
	return &Source[T]{g: g, n: n}, nil
}

// Stream is the source's DStream.
func (s *Source[T]) Stream() DStream[T] { return DStream[T]{n: s.n} }

// Feed runs the pipeline on one batch's partitions: stateful steps first,
// in the order made, then the outputs, in the order registered. The input
// calls it from Run, once per batch; a nil error means every output is done
// with the batch.
func (s *Source[T]) Feed(ctx context.Context, parts Partitions[T]) error {
	g := s.g
	br := g.cur
	if br == nil {
		return errors.New("streaming: Source.Feed called outside the input's Run")
	}
	if g.fed {
		return fmt.Errorf("streaming: input %s fed batch %d twice", g.input.Identity(), br.number)
	}
	g.fed = true
	if len(g.stateful) > 0 {
		// A retry must feed the pipeline again, to redo the state the
		// failed run undid, even when the output feeding it completed.
		br.batch.noteFed()
	}
	br.source = parts
	defer func() { br.source = nil }()
	for _, st := range g.stateful {
		if err := st.tick(ctx, br); err != nil {
			return fmt.Errorf("streaming: %s: %w", st.name(), err)
		}
	}
	for _, out := range g.outputs {
		if err := out(ctx, br); err != nil {
			return err
		}
	}
	return nil
}

// Map returns a stream of fn applied to each item.
func Map[T, U any](ds DStream[T], fn func(T) U) DStream[U] {
	return narrow(ds, func(items iter.Seq[T]) iter.Seq[U] {
		return func(yield func(U) bool) {
			for x := range items {
				if !yield(fn(x)) {
					return
				}
			}
		}
	})
}

// FlatMap returns a stream of the items fn makes of each item.
func FlatMap[T, U any](ds DStream[T], fn func(T) iter.Seq[U]) DStream[U] {
	return narrow(ds, func(items iter.Seq[T]) iter.Seq[U] {
		return func(yield func(U) bool) {
			for x := range items {
				for y := range fn(x) {
					if !yield(y) {
						return
					}
				}
			}
		}
	})
}

// Filter returns a stream of the items for which keep is true.
func Filter[T any](ds DStream[T], keep func(T) bool) DStream[T] {
	return narrow(ds, func(items iter.Seq[T]) iter.Seq[T] {
		return func(yield func(T) bool) {
			for x := range items {
				if keep(x) && !yield(x) {
					return
				}
			}
		}
	})
}

// MapPartitions returns a stream of what fn emits for each partition's
// items: one call per partition task, for work that pays once per
// partition (a connection, a parser, a buffer). An error fails the batch.
func MapPartitions[T, U any](ds DStream[T], fn func(ctx context.Context, items iter.Seq[T], emit func(U)) error) DStream[U] {
	return perPartition(ds, func(ctx context.Context, items iter.Seq[T]) (iter.Seq[U], error) {
		// fn pushes, the task pulls: a pipe between two goroutines would
		// cost more than holding the partition's output.
		var out []U
		if err := fn(ctx, items, func(u U) { out = append(out, u) }); err != nil {
			return nil, err
		}
		return slices.Values(out), nil
	})
}

// narrow is a step that transforms each partition's items as they stream.
func narrow[T, U any](ds DStream[T], f func(iter.Seq[T]) iter.Seq[U]) DStream[U] {
	return perPartition(ds, func(_ context.Context, items iter.Seq[T]) (iter.Seq[U], error) { return f(items), nil })
}

// perPartition is a step that, inside each partition's task, turns the
// parent's items into the items the task sees.
func perPartition[T, U any](ds DStream[T], f func(ctx context.Context, items iter.Seq[T]) (iter.Seq[U], error)) DStream[U] {
	p := ds.valid()
	return DStream[U]{n: &node[U]{g: p.g, every: p.every, bySource: p.bySource, get: func(ctx context.Context, br *batchRun) (dataset[U], error) {
		d, err := p.get(ctx, br)
		if err != nil {
			return dataset[U]{}, err
		}
		return dataset[U]{parts: d.parts, each: func(ctx context.Context, task func(context.Context, int, iter.Seq[U]) error) error {
			return d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
				out, err := f(ctx, items)
				if err != nil {
					return err
				}
				return task(ctx, part, out)
			})
		}}, nil
	}}}
}

// BatchData is one batch of a DStream as an output sees it.
type BatchData[T any] struct {
	number int64
	time   time.Time
	replay bool
	ranges []Range
	d      dataset[T]
	run    *batchRun // the graph's batch: its state per partition
}

// Number is the batch's number; a replayed batch keeps its number.
func (b *BatchData[T]) Number() int64 { return b.number }

// Time is when the batch was due (Spark's batch time).
func (b *BatchData[T]) Time() time.Time { return b.time }

// Replay reports whether the batch ran before and did not finish: its
// output may have committed already (see AlreadyCommitted).
func (b *BatchData[T]) Replay() bool { return b.replay }

// OffsetRanges is what the input read since this output last ran, one
// range per partition: the batch's ranges, or for a window sliding every k
// batches, the last k batches' ranges joined. Committing them with the
// output's results keeps a transactional store's positions contiguous
// (eventhubs.OffsetRangesOf turns them into Event Hubs ranges).
func (b *BatchData[T]) OffsetRanges() []Range { return slices.Clone(b.ranges) }

// ForeachPartition runs fn for every partition of the batch, each in its
// own goroutine, and returns the first error.
func (b *BatchData[T]) ForeachPartition(ctx context.Context, fn func(ctx context.Context, part int, items iter.Seq[T]) error) error {
	return b.d.each(ctx, fn)
}

// Collect returns the batch's items, partition by partition.
func (b *BatchData[T]) Collect(ctx context.Context) ([]T, error) { return b.d.collect(ctx) }

// ForeachBatch registers fn as an output of ds: it gets each batch's data,
// or a window's at each slide. A nil error means fn is done with the batch;
// an error stops the stream, and the batch, not marked done, runs again
// after a restart, from the state of the batch before. A batch retried
// (ContextOptions.Retry) runs fn again only when fn did not complete it.
// An error that says the batch had committed before (AlreadyCommitted)
// counts as done in a replayed batch, and in a retry after fn failed, as
// Batch.RunOutput says.
func ForeachBatch[T any](ds DStream[T], fn func(ctx context.Context, b *BatchData[T]) error) {
	n := ds.valid()
	g := n.g
	g.maxEvery = max(g.maxEvery, n.every)
	index := len(g.outputs)
	run := func(ctx context.Context, br *batchRun) error {
		if br.number%n.every != 0 {
			return nil
		}
		d, err := n.get(ctx, br)
		if err != nil {
			return err
		}
		b := &BatchData[T]{number: br.number, time: br.time, replay: br.replay, ranges: g.rangesSince(br, n.every), d: d, run: br}
		return fn(ctx, b)
	}
	g.outputs = append(g.outputs, func(ctx context.Context, br *batchRun) error {
		// A retry of the batch runs the outputs that did not complete.
		return br.batch.runOutput(outputID{typed: true, i: index}, func() error { return run(ctx, br) })
	})
}

// rangesSince joins the ranges of the last k batches, cur included, per
// partition: from the oldest range's start to the newest's end.
func (g *graph) rangesSince(br *batchRun, k int64) []Range {
	if k <= 1 {
		return slices.Clone(br.ranges)
	}
	batches := append(slices.Clone(g.recent[max(len(g.recent)-int(k-1), 0):]), br.ranges)
	return joinRanges(batches)
}

// joinRanges is what a run of consecutive batches read of each partition,
// in the order partitions first appear.
func joinRanges(batches [][]Range) []Range {
	var out []Range
	at := map[string]int{}
	for _, rs := range batches {
		for _, r := range rs {
			i, ok := at[r.Partition]
			if !ok {
				at[r.Partition] = len(out)
				out = append(out, r)
				continue
			}
			j := &out[i]
			if r.ResetFrom != 0 {
				// The numbering restarted inside the run: the position moves
				// from where the run started to where it ends.
				from := j.From
				if j.ResetFrom != 0 {
					from = j.ResetFrom
				}
				j.ResetFrom, j.From = from, r.From
			}
			j.Until = r.Until
		}
	}
	return out
}

// beginBatch tells the graph the batch the Context runs next, or again.
func (g *graph) beginBatch(b *Batch) {
	g.cur = &batchRun{number: b.Number, time: b.Time, replay: b.Replay, ranges: b.Ranges, batch: b}
	g.fed = false
}

// abortBatch undoes what the running batch did to the graph's state and
// forgets the batch.
func (g *graph) abortBatch() {
	if g.fed {
		for _, st := range g.stateful {
			st.abort()
		}
	}
	g.endBatch(false)
}

// endBatch forgets the running batch; done says whether it completed, so
// that its ranges count among the recent ones.
func (g *graph) endBatch(done bool) {
	if done {
		g.commitPartitionState()
	}
	if done && g.cur != nil && g.maxEvery > 1 {
		g.recent = append(g.recent, g.cur.ranges)
		if extra := len(g.recent) - int(g.maxEvery-1); extra > 0 {
			g.recent = slices.Delete(g.recent, 0, extra)
		}
	}
	g.cur, g.fed = nil, false
}

func typeName[T any]() string {
	var p *T
	return fmt.Sprintf("%T", p)[1:]
}

// graphFor is in's pipeline, or nil.
func (c *Context) graphFor(in Input) *graph {
	for _, g := range c.graphs {
		if g.input == in {
			return g
		}
	}
	return nil
}

// endBatches ends the running batch of every pipeline.
func (c *Context) endBatches(done bool) {
	for _, g := range c.graphs {
		g.endBatch(done)
	}
}

func countRanges(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Count()
	}
	return n
}
