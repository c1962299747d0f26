package streaming

import (
	"context"
	"hash/maphash"
	"iter"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// KV is an item of a pair stream: a key and its value.
type KV[K comparable, V any] struct {
	Key   K
	Value V
}

// ReduceByKey returns, each batch, one pair per key: the key's values
// combined with reduce, which must be associative and commutative (the
// order of combining is not fixed). Values combine within each partition
// first, then across partitions.
func ReduceByKey[K comparable, V any](ds DStream[KV[K, V]], reduce func(V, V) V) DStream[KV[K, V]] {
	return combineByKey(ds, func(v V) V { return v }, reduce, reduce)
}

// CountByKey returns, each batch, each key and the number of its pairs.
func CountByKey[K comparable, V any](ds DStream[KV[K, V]]) DStream[KV[K, int64]] {
	return combineByKey(ds, func(V) int64 { return 1 }, func(n int64, _ V) int64 { return n + 1 }, sum[int64])
}

// GroupByKey returns, each batch, each key and its values: a partition's
// values in their order, partitions in their order.
func GroupByKey[K comparable, V any](ds DStream[KV[K, V]]) DStream[KV[K, []V]] {
	return combineByKey(ds, func(v V) []V { return []V{v} }, func(vs []V, v V) []V { return append(vs, v) },
		func(a, b []V) []V { return append(a, b...) })
}

func sum[N int64 | int](a, b N) N { return a + b }

// combineByKey is Spark's combineByKey: each partition's task combines its
// pairs into one combiner per key (create, then add), split by key hash
// into the graph's buckets; then one task per bucket merges the
// partitions' combiners, in partition order.
func combineByKey[K comparable, V, C any](ds DStream[KV[K, V]], create func(V) C, add func(C, V) C, merge func(C, C) C) DStream[KV[K, C]] {
	p := ds.valid()
	return DStream[KV[K, C]]{n: &node[KV[K, C]]{g: p.g, every: p.every, get: func(ctx context.Context, br *batchRun) (dataset[KV[K, C]], error) {
		d, err := p.get(ctx, br)
		if err != nil {
			return dataset[KV[K, C]]{}, err
		}
		buckets, err := shuffle(ctx, d, p.g.buckets, create, add, merge)
		if err != nil {
			return dataset[KV[K, C]]{}, err
		}
		return fromMaps(buckets), nil
	}}}
}

// seed hashes keys to buckets; buckets live in one process only (a
// checkpoint holds plain pairs), so a seed per process is enough.
var seed = maphash.MakeSeed()

func bucketOf[K comparable](k K, n int) int {
	if n == 1 {
		return 0
	}
	return int(maphash.Comparable(seed, k) % uint64(n))
}

func shuffle[K comparable, V, C any](ctx context.Context, d dataset[KV[K, V]], n int, create func(V) C, add func(C, V) C, merge func(C, C) C) ([]map[K]C, error) {
	local := make([][]map[K]C, d.parts)
	err := d.each(ctx, func(ctx context.Context, part int, items iter.Seq[KV[K, V]]) error {
		m := map[K]C{}
		for kv := range items {
			if c, ok := m[kv.Key]; ok {
				m[kv.Key] = add(c, kv.Value)
			} else {
				m[kv.Key] = create(kv.Value)
			}
		}
		local[part] = split(m, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]map[K]C, n)
	err = parallel.Run(ctx, n, func(ctx context.Context, b int) error {
		var m map[K]C
		for _, l := range local {
			if m == nil {
				m = l[b]
				continue
			}
			for k, c := range l[b] {
				if old, ok := m[k]; ok {
					m[k] = merge(old, c)
				} else {
					m[k] = c
				}
			}
		}
		if m == nil {
			m = map[K]C{}
		}
		out[b] = m
		return nil
	})
	return out, err
}

// split spreads m's keys over n maps by hash.
func split[K comparable, C any](m map[K]C, n int) []map[K]C {
	out := make([]map[K]C, n)
	if n == 1 {
		out[0] = m
		return out
	}
	for b := range out {
		out[b] = make(map[K]C, len(m)/n+1)
	}
	for k, c := range m {
		out[bucketOf(k, n)][k] = c
	}
	return out
}

// fromMaps is a dataset of one partition per bucket.
func fromMaps[K comparable, C any](buckets []map[K]C) dataset[KV[K, C]] {
	return dataset[KV[K, C]]{parts: len(buckets), each: func(ctx context.Context, task func(context.Context, int, iter.Seq[KV[K, C]]) error) error {
		return parallel.Run(ctx, len(buckets), func(ctx context.Context, b int) error {
			return task(ctx, b, func(yield func(KV[K, C]) bool) {
				for k, c := range buckets[b] {
					if !yield(KV[K, C]{Key: k, Value: c}) {
						return
					}
				}
			})
		})
	}}
}
