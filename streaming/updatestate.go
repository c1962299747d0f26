package streaming

import (
	"context"
	"fmt"
	"iter"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// UpdateStateOptions are UpdateStateByKey's options.
type UpdateStateOptions[K comparable, S any] struct {
	// Initial is the state of keys when the stream starts without a
	// checkpoint of its state; nil is none.
	Initial map[K]S
}

// UpdateStateByKey keeps a state per key across batches and returns, each
// batch, every key's state: Spark's updateStateByKey. Each batch calls
// update once for every key that has state or values in the batch, with
// the batch's values (GroupByKey's order; none for a key without) and the
// key's state, absent for a new key; an absent result removes the state.
// The state is checkpointed with the batch and replays as MapWithState's.
// MapWithState, which calls its function only for keys with values, costs
// less per batch when most keys are idle.
func UpdateStateByKey[K comparable, V, S any](ds DStream[KV[K, V]], update func(key K, values []V, state Optional[S]) Optional[S], opts *UpdateStateOptions[K, S]) (DStream[KV[K, S]], error) {
	p := ds.valid()
	if update == nil {
		return DStream[KV[K, S]]{}, fmt.Errorf("streaming: UpdateStateByKey: update is nil")
	}
	ms := &mapState[K, V, S, KV[K, S]]{g: p.g, nm: p.g.nextName("UpdateStateByKey"), parent: p, shards: make([]map[K]entry[S], p.g.buckets)}
	for b := range ms.shards {
		ms.shards[b] = map[K]entry[S]{}
	}
	if opts != nil {
		for k, s := range opts.Initial {
			ms.shards[bucketOf(k, len(ms.shards))][k] = entry[S]{State: s}
		}
	}
	us := &updateState[K, V, S]{mapState: ms, update: update}
	p.g.stateful = append(p.g.stateful, us)
	return DStream[KV[K, S]]{n: &node[KV[K, S]]{g: p.g, every: p.every, st: us, get: func(ctx context.Context, br *batchRun) (dataset[KV[K, S]], error) {
		return snapshotOf(ms.shards), nil
	}}}, nil
}

// updateState is UpdateStateByKey's step: MapWithState's state, commit,
// abort and checkpoint, with its own tick.
type updateState[K comparable, V, S any] struct {
	*mapState[K, V, S, KV[K, S]]
	update func(K, []V, Optional[S]) Optional[S]
}

func (u *updateState[K, V, S]) kind() string {
	return fmt.Sprintf("UpdateStateByKey[%s, %s, %s]", typeName[K](), typeName[V](), typeName[S]())
}

func (u *updateState[K, V, S]) tick(ctx context.Context, br *batchRun) error {
	if br.number%u.parent.every != 0 {
		return nil
	}
	groups, err := groupedBuckets(ctx, br, u.parent)
	if err == nil {
		u.undo = make([]map[K]oldEntry[S], len(u.shards))
		err = parallel.Run(ctx, len(u.shards), func(ctx context.Context, b int) error {
			u.undo[b] = u.updateShard(u.shards[b], groups[b], br.number)
			return ctx.Err()
		})
	}
	return err
}

// updateShard calls update for each key of the shard and of its values,
// and returns what the keys' states were before.
func (u *updateState[K, V, S]) updateShard(shard map[K]entry[S], values map[K][]V, batch int64) map[K]oldEntry[S] {
	before := map[K]oldEntry[S]{}
	apply := func(k K, vs []V) {
		e, had := shard[k]
		before[k] = oldEntry[S]{e: e, had: had}
		if s := u.update(k, vs, Optional[S]{Value: e.State, Present: had}); s.Present {
			shard[k] = entry[S]{State: s.Value, Touched: batch}
		} else {
			delete(shard, k)
		}
	}
	for k, vs := range values {
		apply(k, vs)
	}
	for k := range shard {
		if _, updated := before[k]; !updated {
			apply(k, nil) // a key with state and no values
		}
	}
	return before
}

// snapshotOf is the keys' states of shards, one partition per shard, read
// as the tasks read them: after the batch's stateful steps, before its
// commit.
func snapshotOf[K comparable, S any](shards []map[K]entry[S]) dataset[KV[K, S]] {
	return dataset[KV[K, S]]{parts: len(shards), each: func(ctx context.Context, task func(context.Context, int, iter.Seq[KV[K, S]]) error) error {
		return parallel.Run(ctx, len(shards), func(ctx context.Context, b int) error {
			return task(ctx, b, func(yield func(KV[K, S]) bool) {
				for k, e := range shards[b] {
					if !yield(KV[K, S]{Key: k, Value: e.State}) {
						return
					}
				}
			})
		})
	}}
}

// keyedStates is a stateful step whose state is a value per key:
// MapWithState's.
type keyedStates[K comparable, S any] interface {
	stateShards() []map[K]entry[S]
}

// stateShards are the keys' states: in the shards, or kept per partition,
// the running batch's partitions'.
func (m *mapState[K, V, S, M]) stateShards() []map[K]entry[S] {
	if m.byPart == nil {
		return m.shards
	}
	subs := m.byPart.slotsNow()
	out := make([]map[K]entry[S], len(subs))
	for i, sub := range subs {
		out[i] = sub.shards[0]
	}
	return out
}

// keepPerPartition refuses: update is called for every key each batch of
// one process.
func (u *updateState[K, V, S]) keepPerPartition(PartitionStateStore) error {
	return fmt.Errorf("streaming: %s: UpdateStateByKey calls update for every key at every batch of one process, so it cannot keep its state per partition (KeepStatePerPartition): use MapWithState", u.name())
}

// StateSnapshots returns, each batch, every key's state after the batch,
// of ds, a stream MapWithState returned with keys K and state S: Spark's
// stateSnapshots. Give the types: StateSnapshots[string, int](counts).
// (UpdateStateByKey's stream is its snapshots already.)
func StateSnapshots[K comparable, S, M any](ds DStream[M]) (DStream[KV[K, S]], error) {
	p := ds.valid()
	ks, ok := p.st.(keyedStates[K, S])
	if !ok {
		what := "not made by MapWithState"
		if p.st != nil {
			what = "made by " + p.st.kind()
		}
		return DStream[KV[K, S]]{}, fmt.Errorf("streaming: StateSnapshots[%s, %s]: the stream is %s; give the stream MapWithState returned, and its key and state types", typeName[K](), typeName[S](), what)
	}
	return DStream[KV[K, S]]{n: &node[KV[K, S]]{g: p.g, every: p.every, get: func(ctx context.Context, br *batchRun) (dataset[KV[K, S]], error) {
		return snapshotOf(ks.stateShards()), nil
	}}}, nil
}
