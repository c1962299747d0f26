package streaming

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// winKey is a key within one window, the window named by its start (Unix
// nanoseconds).
type winKey[K comparable] struct {
	Start int64
	Key   K
}

// eventClock is what an event-time window carries from batch to batch
// besides its aggregates; it is checkpointed with them.
type eventClock struct {
	Seen        bool  // an item has been seen: MaxTime and Watermark hold
	MaxTime     int64 // Unix nanoseconds
	Watermark   int64
	Late        int64
	LateInBatch int64
}

type oldValue[V any] struct {
	v   V
	had bool
}

// eventWindow is the stateful step of an event-time window.
type eventWindow[T any, K comparable, V any] struct {
	g         *graph
	nm, op    string
	parent    *node[T]
	eventTime func(T) time.Time
	pair      func(T) KV[K, V]
	reduce    func(V, V) V
	length    int64 // nanoseconds
	slideNs   int64
	lateness  int64
	mode      OutputMode
	stats     *statsBox

	// Per bucket: window start, then key, to its aggregate; evicting a
	// window finds its keys at once.
	state []map[int64]map[K]V
	clock eventClock // as of the last commit

	// The running batch's.
	next  eventClock
	undo  []map[winKey[K]]oldValue[V] // per bucket: what it changed, as it was
	out   [][]WindowedKV[K, V]
	late  [][]T
	done  []map[winKey[K]]oldValue[V] // the last commit's changes, for its delta
	ticks bool                        // the running batch ticked the step

	// byPart, when set, keeps the state per partition of the input
	// (KeepStatePerPartition): an eventWindow per partition, each with its
	// own watermark; state and clock are unused.
	byPart *partitioned[*eventWindow[T, K, V]]
}

func eventTimeWindow[T any, K comparable, V any](ds DStream[T], op string, eventTime func(T) time.Time, pair func(T) KV[K, V], reduce func(V, V) V, w EventTimeWindow) (*EventTimeWindowed[T, WindowedKV[K, V]], error) {
	p := ds.valid()
	w, err := w.check(op)
	if err != nil {
		return nil, err
	}
	for name, missing := range map[string]bool{"eventTime": eventTime == nil, "pair": pair == nil, "reduce": reduce == nil} {
		if missing {
			return nil, fmt.Errorf("streaming: %s: the function %s is nil", op, name)
		}
	}
	ew := &eventWindow[T, K, V]{g: p.g, nm: p.g.nextName(op), op: op, parent: p, eventTime: eventTime, pair: pair, reduce: reduce,
		length: int64(w.Length), slideNs: int64(w.Slide), lateness: int64(w.AllowedLateness), mode: w.Mode, stats: &statsBox{},
		state: make([]map[int64]map[K]V, p.g.buckets)}
	for b := range ew.state {
		ew.state[b] = map[int64]map[K]V{}
	}
	p.g.stateful = append(p.g.stateful, ew)
	windows := &node[WindowedKV[K, V]]{g: p.g, every: p.every, st: ew, get: func(ctx context.Context, br *batchRun) (dataset[WindowedKV[K, V]], error) {
		return fromSlices(ew.out), nil
	}}
	late := &node[T]{g: p.g, every: p.every, st: ew, get: func(ctx context.Context, br *batchRun) (dataset[T], error) {
		return fromSlices(ew.late), nil
	}}
	return &EventTimeWindowed[T, WindowedKV[K, V]]{windows: DStream[WindowedKV[K, V]]{n: windows}, late: DStream[T]{n: late}, stats: ew.stats}, nil
}

func (w *eventWindow[T, K, V]) name() string     { return w.nm }
func (w *eventWindow[T, K, V]) setName(n string) { w.nm = n }
func (w *eventWindow[T, K, V]) slide() int64     { return 0 }

// kind names the window's length and slide, which fix the windows its
// state holds; a changed lateness or mode goes on from the same state.
func (w *eventWindow[T, K, V]) kind() string {
	return fmt.Sprintf("%s[%s, %s] of %s sliding %s", w.op, typeName[K](), typeName[V](), time.Duration(w.length), time.Duration(w.slideNs))
}

// floorDiv rounds a/b down, also for times before 1970.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// lastStart is the start of the latest window that covers time t.
func (w *eventWindow[T, K, V]) lastStart(t int64) int64 { return floorDiv(t, w.slideNs) * w.slideNs }

// open reports whether the window starting at start is past the
// watermark of clock c: it ends after it.
func (w *eventWindow[T, K, V]) open(c eventClock, start int64) bool {
	return !c.Seen || start+w.length > c.Watermark
}

func (w *eventWindow[T, K, V]) window(start int64) TimeWindow {
	return TimeWindow{Start: time.Unix(0, start).UTC(), End: time.Unix(0, start+w.length).UTC()}
}

// partitionSeen is what one partition's task saw of the batch.
type partitionSeen[T any] struct {
	late    []T
	maxTime int64
	any     bool
}

// assign turns a partition's items into (window, key) pairs, one per open
// window of each item, against the watermark before the batch; late items
// go to seen.
func (w *eventWindow[T, K, V]) assign(items iter.Seq[T], seen *partitionSeen[T]) iter.Seq[KV[winKey[K], V]] {
	return func(yield func(KV[winKey[K], V]) bool) {
		for x := range items {
			t := w.eventTime(x).UnixNano()
			if !seen.any || t > seen.maxTime {
				seen.maxTime, seen.any = t, true
			}
			last := w.lastStart(t)
			if !w.open(w.clock, last) {
				seen.late = append(seen.late, x)
				continue
			}
			kv := w.pair(x)
			for s := last; s+w.length > t && w.open(w.clock, s); s -= w.slideNs {
				if !yield(KV[winKey[K], V]{Key: winKey[K]{Start: s, Key: kv.Key}, Value: kv.Value}) {
					return
				}
			}
		}
	}
}

func (w *eventWindow[T, K, V]) tick(ctx context.Context, br *batchRun) error {
	w.next, w.undo, w.out, w.late, w.ticks = w.clock, nil, nil, nil, false
	w.next.LateInBatch = 0
	if br.number%w.parent.every != 0 {
		return nil
	}
	d, err := w.parent.get(ctx, br)
	if err != nil {
		return err
	}
	if w.byPart == nil {
		return w.tickOn(ctx, d)
	}
	err = tickPartitioned(ctx, w.byPart, br, d, func(ctx context.Context, sub *eventWindow[T, K, V], d dataset[T]) error {
		sub.next, sub.undo, sub.out, sub.late, sub.ticks = sub.clock, nil, nil, nil, false
		sub.next.LateInBatch = 0
		return sub.tickOn(ctx, d)
	})
	if err == nil {
		subs := w.byPart.slotsNow()
		w.out, w.late, w.ticks = make([][]WindowedKV[K, V], len(subs)), make([][]T, len(subs)), true
		for i, sub := range subs {
			w.out[i], w.late[i] = sub.out[0], sub.late[0]
		}
	}
	return err
}

// tickOn assigns the batch's items d to their windows and merges them
// into the state.
func (w *eventWindow[T, K, V]) tickOn(ctx context.Context, d dataset[T]) error {
	seen := make([]partitionSeen[T], d.parts)
	pairs := dataset[KV[winKey[K], V]]{parts: d.parts, each: func(ctx context.Context, task func(context.Context, int, iter.Seq[KV[winKey[K], V]]) error) error {
		return d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
			return task(ctx, part, w.assign(items, &seen[part]))
		})
	}}
	batch, err := shuffle(ctx, pairs, len(w.state), func(v V) V { return v }, w.reduce, w.reduce)
	if err != nil {
		return err
	}
	w.ticks = true
	w.late = make([][]T, len(seen))
	for i, s := range seen {
		w.late[i] = s.late
		w.next.LateInBatch += int64(len(s.late))
		if s.any && (!w.next.Seen || s.maxTime > w.next.MaxTime) {
			w.next.MaxTime, w.next.Seen = s.maxTime, true
		}
	}
	w.next.Late += w.next.LateInBatch
	if w.next.Seen {
		// The watermark never moves back, also when the lateness grew
		// between runs: the windows it closed are gone.
		w.next.Watermark = w.next.MaxTime - w.lateness
		if w.clock.Seen {
			w.next.Watermark = max(w.next.Watermark, w.clock.Watermark)
		}
	}
	w.undo = make([]map[winKey[K]]oldValue[V], len(w.state))
	w.out = make([][]WindowedKV[K, V], len(w.state))
	return parallel.Run(ctx, len(w.state), func(ctx context.Context, b int) error {
		w.mergeBucket(b, batch[b])
		return ctx.Err()
	})
}

// mergeBucket adds the batch's aggregates of bucket b to its state, emits
// what the mode says, and drops the windows the new watermark closed,
// noting in undo what each changed (window, key) held before.
func (w *eventWindow[T, K, V]) mergeBucket(b int, batch map[winKey[K]]V) {
	st, u := w.state[b], map[winKey[K]]oldValue[V]{}
	w.undo[b] = u
	for wk, v := range batch {
		keys := st[wk.Start]
		if keys == nil {
			keys = map[K]V{}
			st[wk.Start] = keys
		}
		old, had := keys[wk.Key]
		u[wk] = oldValue[V]{v: old, had: had}
		if had {
			v = w.reduce(old, v)
		}
		keys[wk.Key] = v
		if w.mode == UpdateMode {
			w.out[b] = append(w.out[b], WindowedKV[K, V]{Window: w.window(wk.Start), Key: wk.Key, Value: v})
		}
	}
	for start, keys := range st {
		if w.open(w.next, start) {
			continue
		}
		for k, v := range keys {
			wk := winKey[K]{Start: start, Key: k}
			if _, ok := u[wk]; !ok {
				u[wk] = oldValue[V]{v: v, had: true}
			}
			if w.mode == AppendMode {
				w.out[b] = append(w.out[b], WindowedKV[K, V]{Window: w.window(start), Key: k, Value: v})
			}
		}
		delete(st, start)
	}
}

func (w *eventWindow[T, K, V]) commit() {
	if w.byPart != nil {
		w.byPart.commit()
		w.out, w.late, w.ticks = nil, nil, false
		w.publishParts()
		return
	}
	if w.ticks {
		w.clock = w.next
	}
	w.done, w.undo, w.out, w.late, w.ticks = w.undo, nil, nil, nil, false
	w.publish()
}

func (w *eventWindow[T, K, V]) abort() {
	if w.byPart != nil {
		w.byPart.abort()
	}
	for b, u := range w.undo {
		st := w.state[b]
		for wk, old := range u {
			keys := st[wk.Start]
			if !old.had {
				delete(keys, wk.Key)
				if len(keys) == 0 {
					delete(st, wk.Start)
				}
				continue
			}
			if keys == nil {
				keys = map[K]V{}
				st[wk.Start] = keys
			}
			keys[wk.Key] = old.v
		}
	}
	w.undo, w.out, w.late, w.ticks = nil, nil, nil, false
}

// publish makes the committed clock and state size the stats.
func (w *eventWindow[T, K, V]) publish() {
	s := EventTimeStats{Late: w.clock.Late, LateInBatch: w.clock.LateInBatch, Windows: w.size()}
	if w.clock.Seen {
		s.MaxEventTime = time.Unix(0, w.clock.MaxTime).UTC()
		s.Watermark.Watermark = time.Unix(0, w.clock.Watermark).UTC()
	}
	w.stats.set(s)
}

func (w *eventWindow[T, K, V]) size() int {
	if w.byPart != nil {
		return w.byPart.size()
	}
	n := 0
	for _, st := range w.state {
		for _, keys := range st {
			n += len(keys)
		}
	}
	return n
}

// eventWindowState is an event-time window's state in a checkpoint: its
// clock, and every aggregate, or those a batch set and removed.
type eventWindowState[K comparable, V any] struct {
	Clock   eventClock
	Set     []KV[winKey[K], V]
	Removed []winKey[K]
}

func (w *eventWindow[T, K, V]) encode(full bool) ([]byte, error) {
	return w.encodeChanges(full, w.clock, w.done)
}

// pending is the running batch's state, whole or its changes, for a
// partition's state record.
func (w *eventWindow[T, K, V]) pending(full bool) ([]byte, error) {
	clock := w.clock
	if w.ticks {
		clock = w.next
	}
	return w.encodeChanges(full, clock, w.undo)
}

// encodeChanges encodes clock with the whole state, or with the
// (window, key)s of changes as they stand.
func (w *eventWindow[T, K, V]) encodeChanges(full bool, clock eventClock, changes []map[winKey[K]]oldValue[V]) ([]byte, error) {
	st := eventWindowState[K, V]{Clock: clock}
	if full {
		for _, b := range w.state {
			for start, keys := range b {
				for k, v := range keys {
					st.Set = append(st.Set, KV[winKey[K], V]{Key: winKey[K]{Start: start, Key: k}, Value: v})
				}
			}
		}
		return gobBytes(&st)
	}
	for b, changed := range changes {
		for wk := range changed {
			if v, ok := w.state[b][wk.Start][wk.Key]; ok {
				st.Set = append(st.Set, KV[winKey[K], V]{Key: wk, Value: v})
			} else {
				st.Removed = append(st.Removed, wk)
			}
		}
	}
	return gobBytes(&st)
}

func (w *eventWindow[T, K, V]) restore(b []byte, full bool) error {
	var st eventWindowState[K, V]
	if err := fromGob(b, &st); err != nil {
		return err
	}
	if full {
		for i := range w.state {
			w.state[i] = map[int64]map[K]V{}
		}
	}
	n := len(w.state)
	for _, kv := range st.Set {
		s := w.state[bucketOf(kv.Key, n)]
		if s[kv.Key.Start] == nil {
			s[kv.Key.Start] = map[K]V{}
		}
		s[kv.Key.Start][kv.Key.Key] = kv.Value
	}
	for _, wk := range st.Removed {
		s := w.state[bucketOf(wk, n)]
		delete(s[wk.Start], wk.Key)
		if len(s[wk.Start]) == 0 {
			delete(s, wk.Start)
		}
	}
	w.clock = st.Clock
	w.publish()
	return nil
}

// keepPerPartition keeps the state per partition of the input, each
// partition with its own watermark.
func (w *eventWindow[T, K, V]) keepPerPartition(store PartitionStateStore) error {
	if !w.parent.bySource {
		return errNotBySource(w)
	}
	w.byPart = newPartitioned(stateful(w), store, func() *eventWindow[T, K, V] {
		return &eventWindow[T, K, V]{g: w.g, nm: w.nm, op: w.op, parent: w.parent, eventTime: w.eventTime, pair: w.pair, reduce: w.reduce,
			length: w.length, slideNs: w.slideNs, lateness: w.lateness, mode: w.mode, stats: &statsBox{}, state: []map[int64]map[K]V{{}}}
	})
	return nil
}

// publishParts makes the stats those of the partitions of the last
// batch: late items summed, the largest event time, and the lowest
// watermark, which holds back the windows the stream emits last.
func (w *eventWindow[T, K, V]) publishParts() {
	var s EventTimeStats
	first := true
	for _, slot := range w.byPart.parts {
		c := slot.step.clock
		s.Late += c.Late
		s.LateInBatch += c.LateInBatch
		s.Windows += slot.step.size()
		if !c.Seen {
			continue
		}
		if t := time.Unix(0, c.MaxTime).UTC(); t.After(s.MaxEventTime) {
			s.MaxEventTime = t
		}
		if wm := time.Unix(0, c.Watermark).UTC(); first || wm.Before(s.Watermark.Watermark) {
			s.Watermark.Watermark, first = wm, false
		}
	}
	w.stats.set(s)
}
