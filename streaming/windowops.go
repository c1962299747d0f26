package streaming

import (
	"time"
)

// WindowOptions are ReduceByKeyAndWindowWith's options.
type WindowOptions[K comparable, V any] struct {
	// Filter keeps the window's pairs for which it is true: Spark's
	// filterFunc, as in "drop the keys whose count came back to 0". nil
	// keeps every pair. In Spark it also drops a key from the state kept
	// for the next window, which is only correct where the key's value
	// no longer counts; here the state drops a key when no batch of the
	// window has it, whatever Filter says, so Filter decides what the
	// stream emits and cannot make the window wrong.
	Filter func(KV[K, V]) bool
}

// ReduceByKeyAndWindowWith is ReduceByKeyAndWindow with options; nil
// options are ReduceByKeyAndWindow's.
func ReduceByKeyAndWindowWith[K comparable, V any](ds DStream[KV[K, V]], reduce, inverse func(V, V) V, length, slide time.Duration, opts *WindowOptions[K, V]) (DStream[KV[K, V]], error) {
	w, err := reducedWindow(ds, "ReduceByKeyAndWindow", reduce, inverse, length, slide)
	if err != nil || opts == nil || opts.Filter == nil {
		return w, err
	}
	return ofState(Filter(w, opts.Filter), w), nil
}

// ofState is ds, which derives from the stateful stream w by a narrow
// step, made by w's step for Named.
func ofState[T, U any](ds DStream[U], w DStream[T]) DStream[U] {
	ds.n.st = w.n.st
	return ds
}

// ReduceByWindow returns, every slide, one item: the window's items
// combined with reduce, or nothing for a window without items: Spark's
// reduceByWindow. With an inverse the window is kept up to date
// incrementally, as ReduceByKeyAndWindow keeps it.
func ReduceByWindow[T any](ds DStream[T], reduce, inverse func(T, T) T, length, slide time.Duration) (DStream[T], error) {
	// One key for all: bool, since encoding/gob cannot encode struct{}.
	keyed := Map(ds, func(x T) KV[bool, T] { return KV[bool, T]{Value: x} })
	w, err := reducedWindow(keyed, "ReduceByWindow", reduce, inverse, length, slide)
	if err != nil {
		return DStream[T]{}, err
	}
	return ofState(Map(w, func(kv KV[bool, T]) T { return kv.Value }), w), nil
}

// CountByValueAndWindow returns, every slide, each distinct item of the
// window and how many times it occurs there: Spark's
// countByValueAndWindow. Counts are kept up to date incrementally.
func CountByValueAndWindow[T comparable](ds DStream[T], length, slide time.Duration) (DStream[KV[T, int64]], error) {
	ones := Map(ds, func(x T) KV[T, int64] { return KV[T, int64]{Key: x, Value: 1} })
	return reducedWindow(ones, "CountByValueAndWindow", sum[int64], func(a, b int64) int64 { return a - b }, length, slide)
}

// GroupByKeyAndWindow returns, every slide, each key of the window and its
// values there: the batches' values in batch order, each batch's as
// GroupByKey orders them (Spark's groupByKeyAndWindow). The window keeps
// every value, in memory and in the checkpoint: prefer
// ReduceByKeyAndWindow where a value per key will do.
func GroupByKeyAndWindow[K comparable, V any](ds DStream[KV[K, V]], length, slide time.Duration) (DStream[KV[K, []V]], error) {
	// Grouped per batch first, a key has one slice per batch, which the
	// window joins into a new one: the batches' slices stay as they are.
	return reducedWindow(GroupByKey(ds), "GroupByKeyAndWindow", func(a, b []V) []V { return append(a[:len(a):len(a)], b...) }, nil, length, slide)
}
