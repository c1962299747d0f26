package streaming

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// A window at batch n covers the batches n-length+1 to n, and a windowed
// stream has data at the batches whose number is a multiple of the slide.
// Windows are counted in batches, not in wall-clock time, so that the
// batches a window covers are the same after any restart: a stream down
// for an hour resumes with the windows it would have had.

// windowBatches checks a window's length and slide and returns them in
// batches.
func windowBatches(g *graph, every int64, op string, length, slide time.Duration) (int64, int64, error) {
	iv := g.ctx.interval
	pi := time.Duration(every) * iv
	for _, d := range []struct {
		what string
		v    time.Duration
	}{{"window length", length}, {"slide", slide}} {
		if d.v <= 0 || d.v%iv != 0 {
			return 0, 0, fmt.Errorf("streaming: %s: %s %s is not a multiple of the batch interval %s", op, d.what, d.v, iv)
		}
		if d.v%pi != 0 {
			return 0, 0, fmt.Errorf("streaming: %s: %s %s is not a multiple of the windowed stream's interval %s", op, d.what, d.v, pi)
		}
	}
	return int64(length / iv), int64(slide / iv), nil
}

// nextName is the default name of a graph's next stateful step of kind.
func (g *graph) nextName(kind string) string {
	g.kinds[kind]++
	return kind + "#" + strconv.Itoa(g.kinds[kind])
}

// Named gives the state of the stateful step that makes ds (a window,
// MapWithState) a name, under which the checkpoint keeps it. Without one,
// the k-th step of a kind is named "ReduceByKeyAndWindow#k", and so on:
// name steps so that a program may add, remove or reorder them and keep
// each one's state.
func (d DStream[T]) Named(name string) DStream[T] {
	n := d.valid()
	if n.st == nil {
		n.g.err = append(n.g.err, fmt.Errorf("streaming: Named(%q): the stream is not made by a stateful step (a window, MapWithState)", name))
		return d
	}
	n.st.setName(name)
	return d
}

// ReduceByKeyAndWindow returns, every slide, each key of the window and its
// values in the window combined with reduce. Each batch's pairs are
// reduced by key once and kept for the window as one small map per batch,
// never the raw items. With an inverse (inverse(a, b) undoes reduce(a, b)),
// the window is kept up to date incrementally: each batch adds its map and
// takes off the map of the batch that leaves; a key that no batch of the
// window has drops out, so the results equal those without inverse. length
// and slide must be multiples of the batch interval.
func ReduceByKeyAndWindow[K comparable, V any](ds DStream[KV[K, V]], reduce, inverse func(V, V) V, length, slide time.Duration) (DStream[KV[K, V]], error) {
	return reducedWindow(ds, "ReduceByKeyAndWindow", reduce, inverse, length, slide)
}

// CountByWindow returns, every slide, one number: the items in the window.
func CountByWindow[T any](ds DStream[T], length, slide time.Duration) (DStream[int64], error) {
	// One key for all: bool, since encoding/gob cannot encode struct{}.
	ones := Map(ds, func(T) KV[bool, int64] { return KV[bool, int64]{Value: 1} })
	w, err := reducedWindow(ones, "CountByWindow", sum[int64], func(a, b int64) int64 { return a - b }, length, slide)
	if err != nil {
		return DStream[int64]{}, err
	}
	p := w.n
	return DStream[int64]{n: &node[int64]{g: p.g, every: p.every, st: p.st, get: func(ctx context.Context, br *batchRun) (dataset[int64], error) {
		d, err := p.get(ctx, br)
		if err != nil {
			return dataset[int64]{}, err
		}
		counts := make([]int64, d.parts)
		err = d.each(ctx, func(ctx context.Context, part int, items iter.Seq[KV[bool, int64]]) error {
			for kv := range items {
				counts[part] += kv.Value
			}
			return nil
		})
		var n int64
		for _, c := range counts {
			n += c
		}
		return fromSlices([][]int64{{n}}), err
	}}}, nil
}

type windowEntry[K comparable, V any] struct {
	batch   int64
	buckets []map[K]V
}

// count is a value of an incrementally kept window and the number of the
// window's batches that have its key.
type count[V any] struct {
	v V
	n int64
}

type undo[V any] struct {
	c   count[V]
	had bool
}

type reduceWindow[K comparable, V any] struct {
	g               *graph
	nm, op          string
	parent          *node[KV[K, V]]
	reduce, inverse func(V, V) V
	length, every   int64 // in batches: the window's length and its slide

	entries []windowEntry[K, V] // committed: batches after last-length, oldest first
	last    int64               // the batch of the last commit
	staged  *windowEntry[K, V]  // the running batch's
	added   *windowEntry[K, V]  // the last commit's, for its delta
	// With inverse: the window, per bucket, kept up to date, and what the
	// running batch changed in it.
	running []map[K]count[V]
	undo    []map[K]undo[V]
	rebuild bool // running must be computed from entries (after a restore)
	out     []map[K]V
}

func reducedWindow[K comparable, V any](ds DStream[KV[K, V]], op string, reduce, inverse func(V, V) V, length, slide time.Duration) (DStream[KV[K, V]], error) {
	p := ds.valid()
	l, s, err := windowBatches(p.g, p.every, op, length, slide)
	if err != nil {
		return DStream[KV[K, V]]{}, err
	}
	if reduce == nil {
		return DStream[KV[K, V]]{}, fmt.Errorf("streaming: %s: reduce is nil", op)
	}
	w := &reduceWindow[K, V]{g: p.g, nm: p.g.nextName(op), op: op, parent: p, reduce: reduce, inverse: inverse, length: l, every: s}
	if inverse != nil {
		w.running = make([]map[K]count[V], p.g.buckets)
		for b := range w.running {
			w.running[b] = map[K]count[V]{}
		}
	}
	p.g.stateful = append(p.g.stateful, w)
	n := &node[KV[K, V]]{g: p.g, every: s, st: w, get: func(ctx context.Context, br *batchRun) (dataset[KV[K, V]], error) {
		if w.out == nil {
			return dataset[KV[K, V]]{}, fmt.Errorf("streaming: %s: no window at batch %d", w.nm, br.number)
		}
		return fromMaps(w.out), nil
	}}
	return DStream[KV[K, V]]{n: n}, nil
}

func (w *reduceWindow[K, V]) name() string     { return w.nm }
func (w *reduceWindow[K, V]) setName(n string) { w.nm = n }

func (w *reduceWindow[K, V]) slide() int64 { return w.every }

func (w *reduceWindow[K, V]) kind() string {
	return fmt.Sprintf("%s[%s, %s] of %d batches", w.op, typeName[K](), typeName[V](), w.length)
}

func (w *reduceWindow[K, V]) tick(ctx context.Context, br *batchRun) error {
	w.staged, w.out = nil, nil
	if br.number%w.parent.every == 0 {
		d, err := w.parent.get(ctx, br)
		if err != nil {
			return err
		}
		buckets, err := shuffle(ctx, d, w.g.buckets, func(v V) V { return v }, w.reduce, w.reduce)
		if err != nil {
			return err
		}
		w.staged = &windowEntry[K, V]{batch: br.number, buckets: buckets}
	}
	from := br.number - w.length // batches up to from are out of the window
	if w.inverse != nil {
		if w.rebuild {
			w.rebuildRunning()
		}
		w.undo = make([]map[K]undo[V], len(w.running))
		err := parallel.Run(ctx, len(w.running), func(ctx context.Context, b int) error {
			w.slideRunning(b, from)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if br.number%w.every != 0 {
		return nil
	}
	w.out = make([]map[K]V, w.g.buckets)
	return parallel.Run(ctx, w.g.buckets, func(ctx context.Context, b int) error {
		w.out[b] = w.window(b, from)
		return nil
	})
}

// slideRunning moves bucket b of the running window on to the running
// batch: it adds the staged batch's values and takes off those of the
// batches up to from, noting in undo what each key held before.
func (w *reduceWindow[K, V]) slideRunning(b int, from int64) {
	u := map[K]undo[V]{}
	w.undo[b] = u
	run := w.running[b]
	note := func(k K, c count[V], had bool) {
		if _, ok := u[k]; !ok {
			u[k] = undo[V]{c: c, had: had}
		}
	}
	if w.staged != nil {
		for k, v := range w.staged.buckets[b] {
			c, had := run[k]
			note(k, c, had)
			if had {
				run[k] = count[V]{v: w.reduce(c.v, v), n: c.n + 1}
			} else {
				run[k] = count[V]{v: v, n: 1}
			}
		}
	}
	for _, e := range w.entries {
		if e.batch > from {
			break
		}
		for k, v := range e.buckets[b] {
			c := run[k]
			note(k, c, true)
			if c.n <= 1 {
				delete(run, k)
			} else {
				run[k] = count[V]{v: w.inverse(c.v, v), n: c.n - 1}
			}
		}
	}
}

// window is bucket b of the window that ends with the running batch: the
// running window's, with an inverse; otherwise the batches after from and
// the staged one, reduced.
func (w *reduceWindow[K, V]) window(b int, from int64) map[K]V {
	m := map[K]V{}
	if w.inverse != nil {
		for k, c := range w.running[b] {
			m[k] = c.v
		}
		return m
	}
	add := func(e *windowEntry[K, V]) {
		for k, v := range e.buckets[b] {
			if old, ok := m[k]; ok {
				m[k] = w.reduce(old, v)
			} else {
				m[k] = v
			}
		}
	}
	for i := range w.entries {
		if w.entries[i].batch > from {
			add(&w.entries[i])
		}
	}
	if w.staged != nil {
		add(w.staged)
	}
	return m
}

func (w *reduceWindow[K, V]) size() int {
	n := 0
	for _, e := range w.entries {
		for _, m := range e.buckets {
			n += len(m)
		}
	}
	return n
}

func (w *reduceWindow[K, V]) rebuildRunning() {
	for b := range w.running {
		w.running[b] = map[K]count[V]{}
	}
	for _, e := range w.entries {
		for b, m := range e.buckets {
			run := w.running[b]
			for k, v := range m {
				if c, ok := run[k]; ok {
					run[k] = count[V]{v: w.reduce(c.v, v), n: c.n + 1}
				} else {
					run[k] = count[V]{v: v, n: 1}
				}
			}
		}
	}
	w.rebuild = false
}

func (w *reduceWindow[K, V]) commit() {
	w.added = w.staged
	if w.staged != nil {
		w.entries = append(w.entries, *w.staged)
	}
	if w.cur() > 0 {
		w.last = w.cur()
	}
	w.evict()
	w.staged, w.undo = nil, nil
}

// cur is the running batch's number: the graph's.
func (w *reduceWindow[K, V]) cur() int64 {
	if w.g.cur == nil {
		return 0
	}
	return w.g.cur.number
}

func (w *reduceWindow[K, V]) evict() {
	from := w.last - w.length
	i := 0
	for i < len(w.entries) && w.entries[i].batch <= from {
		i++
	}
	w.entries = slices.Delete(w.entries, 0, i)
}

func (w *reduceWindow[K, V]) abort() {
	for b, u := range w.undo {
		for k, old := range u {
			if old.had {
				w.running[b][k] = old.c
			} else {
				delete(w.running[b], k)
			}
		}
	}
	w.staged, w.undo, w.out = nil, nil, nil
}

// windowState is a window's state in a checkpoint: whole, every batch's
// pairs in the window; or a batch's changes, its pairs.
type windowState[K comparable, V any] struct {
	Batch   int64
	Entries []windowPairs[K, V]
}

type windowPairs[K comparable, V any] struct {
	Batch int64
	Pairs []KV[K, V]
}

func pairsOf[K comparable, V any](buckets []map[K]V) []KV[K, V] {
	var out []KV[K, V]
	for _, m := range buckets {
		for k, v := range m {
			out = append(out, KV[K, V]{Key: k, Value: v})
		}
	}
	return out
}

func (w *reduceWindow[K, V]) encode(full bool) ([]byte, error) {
	st := windowState[K, V]{Batch: w.last}
	if full {
		for _, e := range w.entries {
			st.Entries = append(st.Entries, windowPairs[K, V]{Batch: e.batch, Pairs: pairsOf(e.buckets)})
		}
	} else if w.added != nil {
		st.Entries = []windowPairs[K, V]{{Batch: w.added.batch, Pairs: pairsOf(w.added.buckets)}}
	}
	return gobBytes(&st)
}

func (w *reduceWindow[K, V]) restore(b []byte, full bool) error {
	var st windowState[K, V]
	if err := fromGob(b, &st); err != nil {
		return err
	}
	if full {
		w.entries = nil
	}
	for _, e := range st.Entries {
		buckets := make([]map[K]V, w.g.buckets)
		for i := range buckets {
			buckets[i] = map[K]V{}
		}
		for _, kv := range e.Pairs {
			buckets[bucketOf(kv.Key, len(buckets))][kv.Key] = kv.Value
		}
		w.entries = append(w.entries, windowEntry[K, V]{batch: e.Batch, buckets: buckets})
	}
	w.last = st.Batch
	w.evict()
	w.rebuild = w.inverse != nil
	return nil
}

// Window returns, every slide, the items of the batches in the window. It
// keeps the window's items in memory and in the checkpoint, which must be
// able to encode them (encoding/gob): window a reduced stream
// (ReduceByKeyAndWindow, CountByWindow) rather than raw events.
func Window[T any](ds DStream[T], length, slide time.Duration) (DStream[T], error) {
	p := ds.valid()
	l, s, err := windowBatches(p.g, p.every, "Window", length, slide)
	if err != nil {
		return DStream[T]{}, err
	}
	w := &itemWindow[T]{g: p.g, nm: p.g.nextName("Window"), parent: p, length: l, every: s}
	p.g.stateful = append(p.g.stateful, w)
	n := &node[T]{g: p.g, every: s, st: w, get: func(ctx context.Context, br *batchRun) (dataset[T], error) {
		var parts [][]T
		for _, e := range w.entries {
			if e.Batch > br.number-w.length {
				parts = append(parts, e.Items)
			}
		}
		if w.staged != nil {
			parts = append(parts, w.staged.Items)
		}
		return fromSlices(parts), nil
	}}
	return DStream[T]{n: n}, nil
}

type itemEntry[T any] struct {
	Batch int64
	Items []T
}

type itemWindow[T any] struct {
	g       *graph
	nm      string
	parent  *node[T]
	length  int64
	every   int64 // the slide, in batches
	entries []itemEntry[T]
	last    int64
	staged  *itemEntry[T]
	added   *itemEntry[T]
}

func (w *itemWindow[T]) name() string     { return w.nm }
func (w *itemWindow[T]) setName(n string) { w.nm = n }
func (w *itemWindow[T]) slide() int64     { return w.every }
func (w *itemWindow[T]) kind() string {
	return fmt.Sprintf("Window[%s] of %d batches", typeName[T](), w.length)
}

func (w *itemWindow[T]) tick(ctx context.Context, br *batchRun) error {
	w.staged = nil
	if br.number%w.parent.every != 0 {
		return nil
	}
	d, err := w.parent.get(ctx, br)
	if err != nil {
		return err
	}
	items, err := d.collect(ctx)
	if err != nil {
		return err
	}
	w.staged = &itemEntry[T]{Batch: br.number, Items: items}
	return nil
}

func (w *itemWindow[T]) commit() {
	w.added = w.staged
	if w.staged != nil {
		w.entries = append(w.entries, *w.staged)
	}
	if w.g.cur != nil {
		w.last = w.g.cur.number
	}
	w.evict()
	w.staged = nil
}

func (w *itemWindow[T]) evict() {
	i := 0
	for i < len(w.entries) && w.entries[i].Batch <= w.last-w.length {
		i++
	}
	w.entries = slices.Delete(w.entries, 0, i)
}

func (w *itemWindow[T]) abort() { w.staged = nil }

func (w *itemWindow[T]) size() int {
	n := 0
	for _, e := range w.entries {
		n += len(e.Items)
	}
	return n
}

type itemState[T any] struct {
	Batch   int64
	Entries []itemEntry[T]
}

func (w *itemWindow[T]) encode(full bool) ([]byte, error) {
	st := itemState[T]{Batch: w.last}
	if full {
		st.Entries = w.entries
	} else if w.added != nil {
		st.Entries = []itemEntry[T]{*w.added}
	}
	return gobBytes(&st)
}

func (w *itemWindow[T]) restore(b []byte, full bool) error {
	var st itemState[T]
	if err := fromGob(b, &st); err != nil {
		return err
	}
	if full {
		w.entries = nil
	}
	w.entries = append(w.entries, st.Entries...)
	w.last = st.Batch
	w.evict()
	return nil
}
