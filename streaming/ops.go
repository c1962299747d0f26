package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// MapValues returns a stream of the pairs with fn applied to each value,
// keys kept: Spark's mapValues.
func MapValues[K comparable, V, U any](ds DStream[KV[K, V]], fn func(V) U) DStream[KV[K, U]] {
	return Map(ds, func(kv KV[K, V]) KV[K, U] { return KV[K, U]{Key: kv.Key, Value: fn(kv.Value)} })
}

// CombineByKey returns, each batch, one pair per key: the key's values
// turned into a combiner C by create (the key's first value in a
// partition), add (its further values there) and merge (the partitions'
// combiners, in partition order): Spark's combineByKey. ReduceByKey,
// CountByKey and GroupByKey are made of it.
func CombineByKey[K comparable, V, C any](ds DStream[KV[K, V]], create func(V) C, add func(C, V) C, merge func(C, C) C) DStream[KV[K, C]] {
	return combineByKey(ds, create, add, merge)
}

// CountByValue returns, each batch, each distinct item and how many times
// it occurs: Spark's countByValue.
func CountByValue[T comparable](ds DStream[T]) DStream[KV[T, int64]] {
	ones := Map(ds, func(x T) KV[T, int64] { return KV[T, int64]{Key: x, Value: 1} })
	return combineByKey(ones, func(n int64) int64 { return n }, sum[int64], sum[int64])
}

// Count returns, each batch, one item: the number of the batch's items, 0
// for an empty batch (Spark's count).
func Count[T any](ds DStream[T]) DStream[int64] {
	return gather(ds, func(ctx context.Context, d dataset[T]) ([]int64, error) {
		counts := make([]int64, d.parts)
		err := d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
			for range items {
				counts[part]++
			}
			return nil
		})
		var n int64
		for _, c := range counts {
			n += c
		}
		return []int64{n}, err
	})
}

// Reduce returns, each batch, one item: the batch's items combined with
// reduce, which must be associative and commutative; nothing for an empty
// batch (Spark's reduce). Each partition reduces its items first.
func Reduce[T any](ds DStream[T], reduce func(T, T) T) DStream[T] {
	return gather(ds, func(ctx context.Context, d dataset[T]) ([]T, error) {
		parts := make([][]T, d.parts) // each partition's result, if it has items
		err := d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
			parts[part] = reduceAll(items, reduce)
			return nil
		})
		return reduceAll(slices.Values(slices.Concat(parts...)), reduce), err
	})
}

// reduceAll is items combined with reduce, as a slice of one item, or
// none when there are no items.
func reduceAll[T any](items iter.Seq[T], reduce func(T, T) T) []T {
	var acc []T
	for x := range items {
		if acc == nil {
			acc = []T{x}
		} else {
			acc[0] = reduce(acc[0], x)
		}
	}
	return acc
}

// gather is a step whose batch is a few items computed from the whole
// parent batch, in one partition.
func gather[T, U any](ds DStream[T], f func(ctx context.Context, d dataset[T]) ([]U, error)) DStream[U] {
	p := ds.valid()
	return DStream[U]{n: &node[U]{g: p.g, every: p.every, get: func(ctx context.Context, br *batchRun) (dataset[U], error) {
		d, err := p.get(ctx, br)
		if err != nil {
			return dataset[U]{}, err
		}
		out, err := f(ctx, d)
		if err != nil {
			return dataset[U]{}, err
		}
		return fromSlices([][]U{out}), nil
	}}}
}

// Union returns a stream of the items of every stream given, each batch:
// Spark's union. The partitions of the first stream come first. The
// streams must derive from one source, and have data at the same batches
// (windows of the same slide): a pipeline belongs to one input, whose Run
// feeds it while other inputs run theirs, so no step sees two inputs'
// batches; union those in an output, or read both hubs with one input.
func Union[T any](streams ...DStream[T]) (DStream[T], error) {
	if len(streams) == 0 {
		return DStream[T]{}, errors.New("streaming: Union of no streams; give it one or more")
	}
	nodes := make([]*node[T], len(streams))
	for i, ds := range streams {
		nodes[i] = ds.valid()
		if err := sameBatches("Union", nodes[0].g, nodes[0].every, nodes[i].g, nodes[i].every); err != nil {
			return DStream[T]{}, fmt.Errorf("%w (stream %d)", err, i)
		}
	}
	first := nodes[0]
	return DStream[T]{n: &node[T]{g: first.g, every: first.every, get: func(ctx context.Context, br *batchRun) (dataset[T], error) {
		sets := make([]dataset[T], len(nodes))
		for i, n := range nodes {
			d, err := n.get(ctx, br)
			if err != nil {
				return dataset[T]{}, err
			}
			sets[i] = d
		}
		return unionOf(sets), nil
	}}}, nil
}

// sameBatches checks that a step of two parents may combine them: one
// pipeline, and data at the same batches.
func sameBatches(op string, g1 *graph, every1 int64, g2 *graph, every2 int64) error {
	if g1 != g2 {
		return fmt.Errorf("streaming: %s: the streams come from different inputs (%s and %s); a pipeline belongs to one input, so derive both from one source", op, g1.input.Identity(), g2.input.Identity())
	}
	if every1 != every2 {
		iv := g1.ctx.interval
		return fmt.Errorf("streaming: %s: the streams have data every %s and every %s; window them to the same slide", op, iv*time.Duration(every1), iv*time.Duration(every2))
	}
	return nil
}

// unionOf is one dataset of the partitions of sets, in their order.
func unionOf[T any](sets []dataset[T]) dataset[T] {
	offsets := make([]int, len(sets))
	parts := 0
	for i, d := range sets {
		offsets[i] = parts
		parts += d.parts
	}
	return dataset[T]{parts: parts, each: func(ctx context.Context, task func(context.Context, int, iter.Seq[T]) error) error {
		return parallel.Run(ctx, len(sets), func(ctx context.Context, i int) error {
			return sets[i].each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
				return task(ctx, offsets[i]+part, items)
			})
		})
	}}
}

// Transform returns a stream of what fn makes of each batch: Spark's
// transform, for what no step does (a join with a table read each batch,
// a sort, a sample). fn sees the batch as an output does (its number,
// time, partitions) and returns the new batch's partitions, which may be
// SlicePartitions. An error fails the batch.
func Transform[T, U any](ds DStream[T], fn func(ctx context.Context, b *BatchData[T]) (Partitions[U], error)) DStream[U] {
	p := ds.valid()
	return DStream[U]{n: &node[U]{g: p.g, every: p.every, get: func(ctx context.Context, br *batchRun) (dataset[U], error) {
		d, err := p.get(ctx, br)
		if err != nil {
			return dataset[U]{}, err
		}
		b := &BatchData[T]{number: br.number, time: br.time, replay: br.replay, ranges: p.g.rangesSince(br, p.every), d: d}
		out, err := fn(ctx, b)
		if err != nil {
			return dataset[U]{}, err
		}
		if out == nil {
			return fromSlices[U](nil), nil
		}
		return dataset[U]{parts: out.Len(), each: out.Each}, nil
	}}}
}

// PrintOptions are Print's options.
type PrintOptions struct {
	// Num is how many items of each batch to print; 0 means 10.
	Num int
	// Writer is where to print; nil means os.Stdout.
	Writer io.Writer
}

// Print registers an output that prints the first items of each batch
// under a header with the batch's time, and "..." when the batch has
// more: Spark's print, for trying a pipeline out.
func Print[T any](ds DStream[T], opts *PrintOptions) {
	num, w := 10, io.Writer(os.Stdout)
	if opts != nil && opts.Num > 0 {
		num = opts.Num
	}
	if opts != nil && opts.Writer != nil {
		w = opts.Writer
	}
	ForeachBatch(ds, func(ctx context.Context, b *BatchData[T]) error {
		first, err := firstItems(ctx, b.d, num+1)
		if err != nil {
			return err
		}
		var sb strings.Builder
		line := strings.Repeat("-", 43) + "\n"
		fmt.Fprintf(&sb, "%sTime: %d ms\n%s", line, b.Time().UnixMilli(), line)
		for i, x := range first {
			if i == num {
				sb.WriteString("...\n")
				break
			}
			fmt.Fprintf(&sb, "%v\n", x)
		}
		sb.WriteString("\n")
		_, err = io.WriteString(w, sb.String())
		return err
	})
}

// firstItems is the first n items of d, partitions in their order; each
// partition's task stops reading after n.
func firstItems[T any](ctx context.Context, d dataset[T], n int) ([]T, error) {
	parts := make([][]T, d.parts)
	err := d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
		for x := range items {
			if len(parts[part]) == n {
				break
			}
			parts[part] = append(parts[part], x)
		}
		return nil
	})
	all := slices.Concat(parts...)
	return all[:min(n, len(all))], err
}

// Cache returns the stream with each batch computed once and held for the
// batch: Spark's cache. Without it every step and output derived from a
// stream computes it again, and at the source reads the batch again (from
// the hub); with it, the first to need the batch reads it into memory and
// the others read that. Cache a stream that several outputs, windows or
// stateful steps use; the memory is freed when the batch ends.
func Cache[T any](ds DStream[T]) DStream[T] {
	p := ds.valid()
	key := new(int) // this step's entry in a batch's cache
	return DStream[T]{n: &node[T]{g: p.g, every: p.every, st: p.st, bySource: p.bySource, get: func(ctx context.Context, br *batchRun) (dataset[T], error) {
		return cachedSet(&br.cached, key, func() (dataset[T], error) {
			d, err := p.get(ctx, br)
			if err != nil {
				return dataset[T]{}, err
			}
			parts := make([][]T, d.parts)
			err = d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
				parts[part] = slices.Collect(items)
				return nil
			})
			if err != nil {
				return dataset[T]{}, err
			}
			return fromSlices(parts), nil
		})
	}}}
}

// cache holds what cached steps computed of one attempt of a batch, by
// step. A failed computation is not held: the next to need it, in a
// retry, computes it again.
type cache struct {
	mu   sync.Mutex
	sets map[*int]*cacheEntry
}

type cacheEntry struct {
	mu  sync.Mutex // held while the step computes, so that it does once
	set any        // the dataset, once computed
}

// cachedSet is the dataset of the cached step key in c, computed now if
// no one has.
func cachedSet[T any](c *cache, key *int, compute func() (dataset[T], error)) (dataset[T], error) {
	c.mu.Lock()
	if c.sets == nil {
		c.sets = map[*int]*cacheEntry{}
	}
	e := c.sets[key]
	if e == nil {
		e = &cacheEntry{}
		c.sets[key] = e
	}
	c.mu.Unlock()
	// A cached step derived from another takes the other's entry inside
	// its own: entries have their own locks, taken in the order of the
	// pipeline, never c.mu's.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set != nil {
		return e.set.(dataset[T]), nil
	}
	d, err := compute()
	if err == nil {
		e.set = d
	}
	return d, err
}
