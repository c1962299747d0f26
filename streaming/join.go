package streaming

import (
	"context"
	"iter"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// Pair is two values of one key: what Join, the outer joins and Cogroup
// emit, the first stream's value Left.
type Pair[A, B any] struct {
	Left  A
	Right B
}

// Optional is a value that may be absent: the side of an outer join that
// has no value for the key (Spark's Option).
type Optional[T any] struct {
	Value   T
	Present bool
}

// Some is the Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Present: true} }

// Cogroup returns, each batch, each key of either stream and its values
// in each: Spark's cogroup. Values come as GroupByKey's do; a stream
// without the key has nil. The streams must derive from one source and
// have data at the same batches (see Union).
func Cogroup[K comparable, V, W any](a DStream[KV[K, V]], b DStream[KV[K, W]]) (DStream[KV[K, Pair[[]V, []W]]], error) {
	pa, pb := a.valid(), b.valid()
	if err := sameBatches("Cogroup", pa.g, pa.every, pb.g, pb.every); err != nil {
		return DStream[KV[K, Pair[[]V, []W]]]{}, err
	}
	return DStream[KV[K, Pair[[]V, []W]]]{n: &node[KV[K, Pair[[]V, []W]]]{g: pa.g, every: pa.every,
		get: func(ctx context.Context, br *batchRun) (dataset[KV[K, Pair[[]V, []W]]], error) {
			left, err := groupedBuckets(ctx, br, pa)
			if err != nil {
				return dataset[KV[K, Pair[[]V, []W]]]{}, err
			}
			right, err := groupedBuckets(ctx, br, pb)
			if err != nil {
				return dataset[KV[K, Pair[[]V, []W]]]{}, err
			}
			out := make([]map[K]Pair[[]V, []W], len(left))
			err = parallel.Run(ctx, len(left), func(ctx context.Context, i int) error {
				out[i] = cogroupBucket(left[i], right[i])
				return nil
			})
			return fromMaps(out), err
		}}}, nil
}

// groupedBuckets is the batch of p grouped by key, in the graph's buckets.
func groupedBuckets[K comparable, V any](ctx context.Context, br *batchRun, p *node[KV[K, V]]) ([]map[K][]V, error) {
	d, err := p.get(ctx, br)
	if err != nil {
		return nil, err
	}
	return shuffle(ctx, d, p.g.buckets, func(v V) []V { return []V{v} }, func(vs []V, v V) []V { return append(vs, v) },
		func(a, b []V) []V { return append(a, b...) })
}

// cogroupBucket joins one bucket of each side: a key's bucket is the same
// on both, as both hash into the graph's buckets.
func cogroupBucket[K comparable, V, W any](left map[K][]V, right map[K][]W) map[K]Pair[[]V, []W] {
	out := make(map[K]Pair[[]V, []W], max(len(left), len(right)))
	for k, vs := range left {
		out[k] = Pair[[]V, []W]{Left: vs, Right: right[k]}
	}
	for k, ws := range right {
		if _, ok := left[k]; !ok {
			out[k] = Pair[[]V, []W]{Right: ws}
		}
	}
	return out
}

// Join returns, each batch, for each key in both streams, every pair of
// its values in the one and in the other: Spark's join (an inner join).
// The streams must derive from one source and have data at the same
// batches (see Union); join a stream with a window of another by
// windowing both to the same slide.
func Join[K comparable, V, W any](a DStream[KV[K, V]], b DStream[KV[K, W]]) (DStream[KV[K, Pair[V, W]]], error) {
	return joinOf(a, b, func(vs []V, ws []W, emit func(Pair[V, W]) bool) {
		for _, v := range vs {
			for _, w := range ws {
				if !emit(Pair[V, W]{v, w}) {
					return
				}
			}
		}
	})
}

// LeftOuterJoin is Join, and for each value of a key that b lacks, the
// value with an absent Right: Spark's leftOuterJoin.
func LeftOuterJoin[K comparable, V, W any](a DStream[KV[K, V]], b DStream[KV[K, W]]) (DStream[KV[K, Pair[V, Optional[W]]]], error) {
	return joinOf(a, b, func(vs []V, ws []W, emit func(Pair[V, Optional[W]]) bool) {
		for _, v := range vs {
			for _, w := range present(ws) {
				if !emit(Pair[V, Optional[W]]{v, w}) {
					return
				}
			}
		}
	})
}

// RightOuterJoin is Join, and for each value of a key that a lacks, the
// value with an absent Left: Spark's rightOuterJoin.
func RightOuterJoin[K comparable, V, W any](a DStream[KV[K, V]], b DStream[KV[K, W]]) (DStream[KV[K, Pair[Optional[V], W]]], error) {
	return joinOf(a, b, func(vs []V, ws []W, emit func(Pair[Optional[V], W]) bool) {
		for _, v := range present(vs) {
			for _, w := range ws {
				if !emit(Pair[Optional[V], W]{v, w}) {
					return
				}
			}
		}
	})
}

// FullOuterJoin is Join, and each value of a key that the other stream
// lacks, with the other side absent: Spark's fullOuterJoin.
func FullOuterJoin[K comparable, V, W any](a DStream[KV[K, V]], b DStream[KV[K, W]]) (DStream[KV[K, Pair[Optional[V], Optional[W]]]], error) {
	return joinOf(a, b, func(vs []V, ws []W, emit func(Pair[Optional[V], Optional[W]]) bool) {
		for _, v := range present(vs) {
			for _, w := range present(ws) {
				if !emit(Pair[Optional[V], Optional[W]]{v, w}) {
					return
				}
			}
		}
	})
}

// present is each of vs as present, or one absent value when there are
// none: the side of an outer join.
func present[V any](vs []V) []Optional[V] {
	if len(vs) == 0 {
		return []Optional[V]{{}}
	}
	out := make([]Optional[V], len(vs))
	for i, v := range vs {
		out[i] = Some(v)
	}
	return out
}

// joinOf is the Cogroup of a and b, each key's values turned into pairs by
// pairs; a key without pairs emits none.
func joinOf[K comparable, V, W, P any](a DStream[KV[K, V]], b DStream[KV[K, W]], pairs func(vs []V, ws []W, emit func(P) bool)) (DStream[KV[K, P]], error) {
	cg, err := Cogroup(a, b)
	if err != nil {
		return DStream[KV[K, P]]{}, err
	}
	return FlatMap(cg, func(kv KV[K, Pair[[]V, []W]]) iter.Seq[KV[K, P]] {
		return func(yield func(KV[K, P]) bool) {
			pairs(kv.Value.Left, kv.Value.Right, func(p P) bool { return yield(KV[K, P]{Key: kv.Key, Value: p}) })
		}
	}), nil
}
