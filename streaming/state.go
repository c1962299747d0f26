package streaming

import (
	"context"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// StateSpec says what MapWithState does: Spark's StateSpec.
type StateSpec[K comparable, V, S, M any] struct {
	// Func is called for each pair of a batch, with the key's state, and
	// returns what the stream emits for it. A key's values in a batch come
	// in order: a partition's in their order, partitions in their order.
	// Func is called once more, with the zero V and State.TimingOut true,
	// for a key whose state times out; the state is then removed.
	Func func(key K, value V, state *State[S]) M
	// Timeout removes the state of a key that got no value for this long,
	// counted in batches (rounded up): time while the stream is down does
	// not count. 0 keeps state until Func removes it.
	Timeout time.Duration
	// Initial is the state of keys when the stream starts without a
	// checkpoint of its state.
	Initial map[K]S
}

// State is a key's state, as MapWithState's function sees it.
type State[S any] struct {
	value     S
	exists    bool
	changed   bool
	timingOut bool
}

// Get returns the key's state and whether it has one.
func (s *State[S]) Get() (S, bool) { return s.value, s.exists }

// Exists reports whether the key has state.
func (s *State[S]) Exists() bool { return s.exists }

// Update sets the key's state.
func (s *State[S]) Update(v S) { s.value, s.exists, s.changed = v, true, true }

// Remove removes the key's state.
func (s *State[S]) Remove() {
	var zero S
	s.value, s.exists, s.changed = zero, false, true
}

// TimingOut reports whether the call is the last for a key whose state
// timed out: whatever Func does, the state is then removed.
func (s *State[S]) TimingOut() bool { return s.timingOut }

// MapWithState returns the stream of what spec.Func returns for each pair,
// keeping a state per key across batches: Spark's mapWithState. Pairs are
// grouped by key hash as in ReduceByKey; each key's state lives in the
// process with its bucket, and in the checkpoint, which keeps every
// key's state once and then each batch's changes.
func MapWithState[K comparable, V, S, M any](ds DStream[KV[K, V]], spec StateSpec[K, V, S, M]) (DStream[M], error) {
	p := ds.valid()
	if spec.Func == nil {
		return DStream[M]{}, fmt.Errorf("streaming: MapWithState: the spec's Func is nil")
	}
	if spec.Timeout < 0 {
		return DStream[M]{}, fmt.Errorf("streaming: MapWithState: timeout %s is negative", spec.Timeout)
	}
	iv := time.Duration(p.every) * p.g.ctx.interval
	ms := &mapState[K, V, S, M]{g: p.g, nm: p.g.nextName("MapWithState"), parent: p, fn: spec.Func,
		timeout: int64((spec.Timeout + iv - 1) / iv * time.Duration(p.every)), shards: make([]map[K]entry[S], p.g.buckets)}
	for b := range ms.shards {
		ms.shards[b] = map[K]entry[S]{}
	}
	for k, s := range spec.Initial {
		ms.shards[bucketOf(k, len(ms.shards))][k] = entry[S]{State: s}
	}
	p.g.stateful = append(p.g.stateful, ms)
	n := &node[M]{g: p.g, every: p.every, st: ms, get: func(ctx context.Context, br *batchRun) (dataset[M], error) {
		return fromSlices(ms.out), nil
	}}
	return DStream[M]{n: n}, nil
}

// entry is a key's state and the last batch that gave the key a value.
type entry[S any] struct {
	State   S
	Touched int64
}

type oldEntry[S any] struct {
	e   entry[S]
	had bool
}

type mapState[K comparable, V, S, M any] struct {
	g       *graph
	nm      string
	parent  *node[KV[K, V]]
	fn      func(K, V, *State[S]) M
	timeout int64 // in batches; 0: none

	shards []map[K]entry[S]    // per bucket
	undo   []map[K]oldEntry[S] // per bucket: what the running batch changed, as it was
	last   int64               // the batch of the last commit
	done   []map[K]oldEntry[S] // the last commit's changes, for its delta
	out    [][]M

	// byPart, when set, keeps the state per partition of the input
	// (KeepStatePerPartition): a mapState per partition; shards is unused.
	byPart *partitioned[*mapState[K, V, S, M]]
}

func (m *mapState[K, V, S, M]) name() string     { return m.nm }
func (m *mapState[K, V, S, M]) setName(n string) { m.nm = n }
func (m *mapState[K, V, S, M]) slide() int64     { return 0 }
func (m *mapState[K, V, S, M]) kind() string {
	return fmt.Sprintf("MapWithState[%s, %s, %s]", typeName[K](), typeName[V](), typeName[S]())
}

func (m *mapState[K, V, S, M]) tick(ctx context.Context, br *batchRun) error {
	m.out = make([][]M, len(m.shards))
	if br.number%m.parent.every != 0 {
		return nil
	}
	d, err := m.parent.get(ctx, br)
	if err != nil {
		return err
	}
	if m.byPart == nil {
		return m.tickOn(ctx, br, d)
	}
	err = tickPartitioned(ctx, m.byPart, br, d, func(ctx context.Context, sub *mapState[K, V, S, M], d dataset[KV[K, V]]) error {
		return sub.tickOn(ctx, br, d)
	})
	if err == nil {
		subs := m.byPart.slotsNow()
		m.out = make([][]M, len(subs))
		for i, sub := range subs {
			m.out[i] = sub.out[0]
		}
	}
	return err
}

// tickOn applies the batch's items d to the state.
func (m *mapState[K, V, S, M]) tickOn(ctx context.Context, br *batchRun, d dataset[KV[K, V]]) error {
	m.out = make([][]M, len(m.shards))
	groups, err := shuffle(ctx, d, len(m.shards), func(v V) []V { return []V{v} }, func(vs []V, v V) []V { return append(vs, v) },
		func(a, b []V) []V { return append(a, b...) })
	if err != nil {
		return err
	}
	m.undo = make([]map[K]oldEntry[S], len(m.shards))
	return parallel.Run(ctx, len(m.shards), func(ctx context.Context, b int) error {
		shard, u := m.shards[b], map[K]oldEntry[S]{}
		m.undo[b] = u
		var out []M
		for k, vs := range groups[b] {
			e, had := shard[k]
			u[k] = oldEntry[S]{e: e, had: had}
			st := State[S]{value: e.State, exists: had}
			for _, v := range vs {
				out = append(out, m.fn(k, v, &st))
			}
			if st.exists {
				shard[k] = entry[S]{State: st.value, Touched: br.number}
			} else {
				delete(shard, k)
			}
		}
		if m.timeout > 0 {
			idle := br.number - m.timeout
			for k, e := range shard {
				if e.Touched > idle {
					continue
				}
				if _, ok := u[k]; !ok {
					u[k] = oldEntry[S]{e: e, had: true}
				}
				st := State[S]{value: e.State, exists: true, timingOut: true}
				var zero V
				out = append(out, m.fn(k, zero, &st))
				delete(shard, k)
			}
		}
		m.out[b] = out
		return ctx.Err()
	})
}

func (m *mapState[K, V, S, M]) commit() {
	if m.byPart != nil {
		m.byPart.commit()
	}
	m.done, m.undo, m.out = m.undo, nil, nil
	if m.g.cur != nil {
		m.last = m.g.cur.number
	}
}

func (m *mapState[K, V, S, M]) abort() {
	if m.byPart != nil {
		m.byPart.abort()
	}
	for b, u := range m.undo {
		for k, old := range u {
			if old.had {
				m.shards[b][k] = old.e
			} else {
				delete(m.shards[b], k)
			}
		}
	}
	m.undo, m.out = nil, nil
}

// keyedState is a MapWithState's state in a checkpoint: whole, or the
// keys a batch changed and those it removed.
type keyedState[K comparable, S any] struct {
	Batch   int64
	Set     []KV[K, entry[S]]
	Removed []K
}

func (m *mapState[K, V, S, M]) encode(full bool) ([]byte, error) {
	return m.encodeChanges(full, m.done)
}

// pending is the running batch's state, whole or its changes, for a
// partition's state record.
func (m *mapState[K, V, S, M]) pending(full bool) ([]byte, error) {
	return m.encodeChanges(full, m.undo)
}

// encodeChanges encodes the whole state, or the keys of changes as they
// stand.
func (m *mapState[K, V, S, M]) encodeChanges(full bool, changes []map[K]oldEntry[S]) ([]byte, error) {
	st := keyedState[K, S]{Batch: m.last}
	if full {
		for _, shard := range m.shards {
			for k, e := range shard {
				st.Set = append(st.Set, KV[K, entry[S]]{Key: k, Value: e})
			}
		}
		return gobBytes(&st)
	}
	for b, changed := range changes {
		for k := range changed {
			if e, ok := m.shards[b][k]; ok {
				st.Set = append(st.Set, KV[K, entry[S]]{Key: k, Value: e})
			} else {
				st.Removed = append(st.Removed, k)
			}
		}
	}
	return gobBytes(&st)
}

func (m *mapState[K, V, S, M]) restore(b []byte, full bool) error {
	var st keyedState[K, S]
	if err := fromGob(b, &st); err != nil {
		return err
	}
	if full {
		for i := range m.shards {
			m.shards[i] = map[K]entry[S]{}
		}
	}
	n := len(m.shards)
	for _, kv := range st.Set {
		m.shards[bucketOf(kv.Key, n)][kv.Key] = kv.Value
	}
	for _, k := range st.Removed {
		delete(m.shards[bucketOf(k, n)], k)
	}
	m.last = st.Batch
	return nil
}

// size counts the keys with state.
func (m *mapState[K, V, S, M]) size() int {
	if m.byPart != nil {
		return m.byPart.size()
	}
	n := 0
	for _, s := range m.shards {
		n += len(s)
	}
	return n
}

// keepPerPartition keeps the state per partition of the input.
func (m *mapState[K, V, S, M]) keepPerPartition(store PartitionStateStore) error {
	if !m.parent.bySource {
		return errNotBySource(m)
	}
	if m.timeout > 0 {
		return fmt.Errorf("streaming: %s: a Timeout counts the batches of one process, so it cannot time out state kept per partition (KeepStatePerPartition): remove the state in Func instead", m.name())
	}
	if m.size() > 0 {
		return fmt.Errorf("streaming: %s: the spec's Initial state has no partition, so it cannot start state kept per partition (KeepStatePerPartition): set a key's state in Func when it first comes", m.name())
	}
	m.byPart = newPartitioned(stateful(m), store, func() *mapState[K, V, S, M] {
		return &mapState[K, V, S, M]{g: m.g, nm: m.nm, parent: m.parent, fn: m.fn, shards: []map[K]entry[S]{{}}}
	})
	return nil
}
