package streaming

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
)

// PartitionStateStore is where a pipeline's stateful steps keep their
// state per partition of its input (KeepStatePerPartition): beside the
// partition's position, in the job's own database, written in the same
// transaction as the batch's results and positions. Package offsets
// provides one (Store.PartitionState).
type PartitionStateStore interface {
	// LoadPartitionState returns what is stored of partition: its
	// position and its steps' state records, read at one moment, so that
	// the records are the state as of the position.
	LoadPartitionState(ctx context.Context, partition string) (*StoredState, error)
}

// StoredState is one partition's state as a PartitionStateStore holds it.
type StoredState struct {
	// Position is the partition's stored position: the sequence number
	// the next batch reads from. Positioned says there is one.
	Position   int64
	Positioned bool
	// Records are the steps' records of the partition, each step's in the
	// order they were written: a whole state, then each batch's changes.
	Records []StateRecord
}

// StateRecord is one stateful step's state of one partition, written by
// a batch's transactional output with the batch's positions: the whole
// state, or the batch's changes. A store keeps, per partition and step,
// the last whole record and the changes after it: a whole record
// replaces those before it (the store's compaction).
type StateRecord struct {
	Partition string
	// Step is the step's name (DStream.Named, or "MapWithState#1" and so on).
	Step string
	// Kind is what made the state: the step, its types and the parameters
	// its state depends on. A step loads only records of its own kind.
	Kind string
	Full bool
	Data []byte
}

// StaleStateError says that a partition's stored state is ahead of the
// batch's range of it: another replica of the job committed batches of
// the partition since this one planned it. It is an eventhubs.StaleRange:
// a stream sharing partitions plans the partition again.
type StaleStateError struct {
	Step      string
	Partition string
	Stored    int64 // the stored position
	From      int64 // where the batch's range starts
}

func (e *StaleStateError) Error() string {
	return fmt.Sprintf("streaming: %s: partition %s's state is stored as of position %d, but the batch reads it from %d: another replica committed it since; the partition is planned again",
		e.Step, e.Partition, e.Stored, e.From)
}

// StalePartition is the partition whose range is stale.
func (e *StaleStateError) StalePartition() string { return e.Partition }

// KeepStatePerPartition makes the stateful steps of ds's pipeline keep
// their state per partition of its input, in store, instead of in the
// Context's checkpoint: the state of a partition then moves with it
// between replicas of a job that share the input's partitions (the
// ownership protocol), and survives without a checkpoint directory.
//
// Keys are then partition-local: a step keeps, for each partition, the
// state of the keys of that partition's items, and emits per partition.
// An aggregate across partitions (a count by device whose events are
// spread over partitions) is merged in the output: an upsert that adds
// (INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n).
//
// Each batch's output must store the state's records with the batch's
// positions, in one transaction: BatchData.StateRecords gives them, and
// offsets.BatchOf takes them for Store.CommitBatch. One output stores
// them (Union streams to write them in one): a batch whose state no
// output took fails, as its state would be lost, and so does one whose
// state two outputs took, as their commits would part. A replayed batch
// whose output committed (the crash came after the commit) finds the
// state already past the batch: its steps emit nothing for it, and the
// output, which would not write it again, counts it done. A partition's state is
// loaded when the stream first reads the partition, and again whenever
// the batch's range does not start where the state in memory stands (the
// partition came back from another replica).
//
// The steps that can keep state per partition are MapWithState (without
// a Timeout) and the event-time windows (ReduceByKeyAndEventTimeWindow,
// ReduceByEventTimeWindow, CountByEventTimeWindow), each made directly of
// the input's partitions: of the source and narrow steps (Map, Filter,
// FlatMap, MapPartitions, Cache), not of a keyed step that moved items
// between partitions. An event-time window then has a watermark per
// partition. Windows counted in batches, UpdateStateByKey and
// StateSnapshots count this process's batches and cannot; Run refuses
// them. Call it before the Context runs.
func KeepStatePerPartition[T any](ds DStream[T], store PartitionStateStore) error {
	n := ds.valid()
	if store == nil {
		return errors.New("streaming: KeepStatePerPartition: the store is nil")
	}
	n.g.ctx.mu.Lock()
	defer n.g.ctx.mu.Unlock()
	if n.g.ctx.running {
		return errRunning
	}
	n.g.partStore = store
	return nil
}

// perPartitionStep is a stateful step that can keep its state per
// partition: keepPerPartition switches it, or says why it cannot.
type perPartitionStep interface {
	keepPerPartition(store PartitionStateStore) error
}

// usePartitionState switches the graph's stateful steps to state per
// partition, when KeepStatePerPartition asked for it.
func (g *graph) usePartitionState() error {
	if g.partStore == nil {
		return nil
	}
	for _, st := range g.stateful {
		p, ok := st.(perPartitionStep)
		if !ok {
			return fmt.Errorf("streaming: %s (%s) counts the batches of one process and cannot keep its state per partition (KeepStatePerPartition): "+
				"use an event-time window or MapWithState, or keep the state in a checkpoint (Context.Checkpoint) and run one instance", st.name(), st.kind())
		}
		if err := p.keepPerPartition(g.partStore); err != nil {
			return err
		}
	}
	return nil
}

// errNotBySource is keepPerPartition's error for a step made of a stream
// whose partitions are not the input's.
func errNotBySource(st stateful) error {
	return fmt.Errorf("streaming: %s is made of a stream whose items moved between partitions (a keyed step, a union or a join), "+
		"so it cannot keep its state per partition of the input (KeepStatePerPartition): make it of the source's stream and narrow steps (Map, Filter)", st.name())
}

// StateRecords returns the batch's records of the state that the
// pipeline's steps keep per partition (KeepStatePerPartition), for the
// output to store with the batch's positions in one transaction
// (offsets.BatchOf does); nil when none keeps state per partition.
// Calling it tells the Context that the output stores them.
func (b *BatchData[T]) StateRecords() ([]StateRecord, error) {
	if b.run == nil || b.run.partState == nil {
		return nil, nil
	}
	b.run.batch.noteStateStored()
	return b.run.partState.records()
}

// partitionBatch is what a batch's steps that keep state per partition
// hand to its outputs.
type partitionBatch struct {
	mu    sync.Mutex
	steps []stateRecorder
}

// stateRecorder is a step's part of a batch's state records.
type stateRecorder interface {
	records() ([]StateRecord, error)
	changed() bool
}

func (p *partitionBatch) records() ([]StateRecord, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []StateRecord
	for _, st := range p.steps {
		rs, err := st.records()
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// checkStored fails a batch whose steps changed state per partition that
// no output took to store.
func (g *graph) checkStateStored(number int64) error {
	br := g.cur
	if br == nil || br.partState == nil {
		return nil
	}
	switch n := br.batch.stateStorers(); {
	case n > 1:
		return fmt.Errorf("streaming: batch %d: %d outputs stored the state kept per partition, which one transaction must hold with the positions it is of: "+
			"store it from one output (Union the streams to write into one), and take BatchData.StateRecords (offsets.BatchOf) in that one only", number, n)
	case n == 0 && slices.ContainsFunc(br.partState.steps, stateRecorder.changed):
		return fmt.Errorf("streaming: batch %d: the pipeline keeps its state per partition, but no output stored the batch's state: "+
			"commit it with the positions (offsets.Store.CommitBatch with offsets.BatchOf(b)), or give BatchData.StateRecords to your store", number)
	}
	return nil
}

// commitPartitionState makes the running batch's changes of steps that
// keep state per partition permanent.
func (g *graph) commitPartitionState() {
	if g.partStore == nil || !g.fed {
		return
	}
	for _, st := range g.stateful {
		st.commit()
	}
}

// partSlot is one partition's part of a step that keeps state per
// partition: a step of the same kind for that partition alone.
type partSlot[S partStep] struct {
	id   string
	step S
	pos  int64 // the position the committed state is of
	next int64 // after the running batch
	// applied says the state already holds the running batch's range (a
	// replayed batch whose output committed): its items are not applied.
	applied bool
	// The stored records since the last whole one, for compaction.
	fullBytes, deltaBytes int64
	deltas                int
	wrote                 *StateRecord // what the running batch's output took
}

// partStep is what a step for one partition does.
type partStep interface {
	stateful
	// pending is the running batch's state: whole, or its changes.
	pending(full bool) ([]byte, error)
}

// maxPartitionDeltas bounds the changes records stored after a whole one.
const maxPartitionDeltas = 64

// partitioned is a step's state per partition of its input.
type partitioned[S partStep] struct {
	owner stateful // the step: its name and kind
	store PartitionStateStore
	fresh func() S // a new step for one partition
	parts map[string]*partSlot[S]
	cur   []*partSlot[S] // the running batch's, one per range
}

func newPartitioned[S partStep](owner stateful, store PartitionStateStore, fresh func() S) *partitioned[S] {
	return &partitioned[S]{owner: owner, store: store, fresh: fresh, parts: map[string]*partSlot[S]{}}
}

// tickPartitioned ticks the step of each partition of the batch on that
// partition's items, loading the partitions' state as needed.
func tickPartitioned[S partStep, T any](ctx context.Context, p *partitioned[S], br *batchRun, d dataset[T], tick func(ctx context.Context, step S, d dataset[T]) error) error {
	if d.parts != len(br.ranges) {
		return errNotBySource(p.owner)
	}
	if err := p.bind(ctx, br); err != nil {
		return err
	}
	br.notePartitionState(p)
	return d.each(ctx, func(ctx context.Context, part int, items iter.Seq[T]) error {
		slot := p.cur[part]
		if slot.applied {
			items = func(func(T) bool) {}
		}
		return tick(ctx, slot.step, dataset[T]{parts: 1, each: func(ctx context.Context, task func(context.Context, int, iter.Seq[T]) error) error {
			return task(ctx, 0, items)
		}})
	})
}

// loadPartitionState reads a partition's stored state once per run of a
// batch, for all its steps: the store returns every step's records with
// the position, and the steps tick one after the other.
func (br *batchRun) loadPartitionState(ctx context.Context, store PartitionStateStore, partition string) (*StoredState, error) {
	if st, ok := br.stateLoads[partition]; ok {
		return st, nil
	}
	st, err := store.LoadPartitionState(ctx, partition)
	if err != nil {
		return nil, err
	}
	if br.stateLoads == nil {
		br.stateLoads = map[string]*StoredState{}
	}
	br.stateLoads[partition] = st
	return st, nil
}

// notePartitionState adds a step to the batch's state records.
func (br *batchRun) notePartitionState(r stateRecorder) {
	if br.partState == nil {
		br.partState = &partitionBatch{}
	}
	br.partState.steps = append(br.partState.steps, r)
}

// bind makes the batch's slots, one per range, loading a partition's
// state when the range does not start where its state in memory stands;
// it forgets partitions the batch does not read.
func (p *partitioned[S]) bind(ctx context.Context, br *batchRun) error {
	p.cur = nil // until every partition is bound: abort has nothing to undo
	cur := make([]*partSlot[S], len(br.ranges))
	seen := map[string]bool{}
	for i, r := range br.ranges {
		from := r.From
		if r.ResetFrom != 0 {
			from = r.ResetFrom
		}
		slot := p.parts[r.Partition]
		if slot == nil || slot.pos != from {
			var err error
			if slot, err = p.load(ctx, br, r, from); err != nil {
				return err
			}
			p.parts[r.Partition] = slot
		}
		slot.next = r.Until
		cur[i], seen[r.Partition] = slot, true
	}
	p.cur = cur
	for id := range p.parts {
		if !seen[id] {
			delete(p.parts, id)
		}
	}
	return nil
}

// load reads partition r's state from the store, as of the range's start
// from; a replayed batch whose output committed finds it as of the
// range's end, and applies nothing.
func (p *partitioned[S]) load(ctx context.Context, br *batchRun, r Range, from int64) (*partSlot[S], error) {
	st, err := br.loadPartitionState(ctx, p.store, r.Partition)
	if err != nil {
		return nil, fmt.Errorf("streaming: %s: loading partition %s's state: %w", p.owner.name(), r.Partition, err)
	}
	replay := br.replay
	slot := &partSlot[S]{id: r.Partition, step: p.fresh(), pos: from}
	var own []StateRecord
	for _, rec := range st.Records {
		if rec.Step == p.owner.name() {
			own = append(own, rec)
		}
	}
	switch {
	case !st.Positioned && len(own) > 0:
		return nil, fmt.Errorf("streaming: %s: partition %s has stored state but no stored position: the positions were removed; remove the state too, or restore the positions", p.owner.name(), r.Partition)
	case !st.Positioned || (st.Position == from && len(own) == 0):
		return slot, nil
	case replay && st.Position == r.Until && r.Count() > 0:
		slot.applied, slot.pos = true, r.Until
	case st.Position > from:
		return nil, &StaleStateError{Step: p.owner.name(), Partition: r.Partition, Stored: st.Position, From: from}
	case st.Position < from:
		return nil, fmt.Errorf("streaming: %s: partition %s's state is stored as of position %d, but the batch reads it from %d, so the state would miss events: "+
			"start the stream from the stored positions (offsets: Resume, or OwnershipOptions.Positions = Store.StoredPositions(job))", p.owner.name(), r.Partition, st.Position, from)
	}
	return slot, p.restore(slot, own)
}

// restore applies a partition's records to its fresh slot.
func (p *partitioned[S]) restore(slot *partSlot[S], own []StateRecord) error {
	for i, rec := range own {
		if rec.Kind != p.owner.kind() {
			return &CheckpointError{Message: fmt.Sprintf("stream %q: partition %s's stored state was made by %s, this program's step is %s: "+
				"keep the step as it was, or name the new one otherwise (Named) to start its state afresh", p.owner.name(), slot.id, rec.Kind, p.owner.kind())}
		}
		if i == 0 && !rec.Full {
			return fmt.Errorf("streaming: %s: partition %s's stored state starts with a batch's changes, not a whole state: the store lost records", p.owner.name(), slot.id)
		}
		if err := slot.step.restore(rec.Data, rec.Full); err != nil {
			return fmt.Errorf("streaming: %s: restoring partition %s's state: %w", p.owner.name(), slot.id, err)
		}
		if rec.Full {
			slot.fullBytes, slot.deltaBytes, slot.deltas = int64(len(rec.Data)), 0, 0
		} else {
			slot.deltaBytes += int64(len(rec.Data))
			slot.deltas++
		}
	}
	slot.step.commit()
	return nil
}

// records are the running batch's state records: a partition's whole
// state once its changes since the last outweigh it, else the batch's
// changes; none for a partition that read nothing.
func (p *partitioned[S]) records() ([]StateRecord, error) {
	var out []StateRecord
	for _, slot := range p.cur {
		if slot.applied || slot.next == slot.pos {
			continue
		}
		full := slot.fullBytes == 0 || slot.deltaBytes >= slot.fullBytes || slot.deltas >= maxPartitionDeltas
		b, err := slot.step.pending(full)
		if err != nil {
			return nil, fmt.Errorf("streaming: %s: saving partition %s's state: %w", p.owner.name(), slot.id, err)
		}
		rec := StateRecord{Partition: slot.id, Step: p.owner.name(), Kind: p.owner.kind(), Full: full, Data: b}
		slot.wrote = &rec
		out = append(out, rec)
	}
	return out, nil
}

// changed reports whether the batch moved a partition whose state the
// output must store.
func (p *partitioned[S]) changed() bool {
	return slices.ContainsFunc(p.cur, func(s *partSlot[S]) bool { return !s.applied && s.next != s.pos })
}

func (p *partitioned[S]) commit() {
	for _, slot := range p.cur {
		slot.step.commit()
		slot.pos, slot.applied = slot.next, false
		if w := slot.wrote; w != nil {
			if w.Full {
				slot.fullBytes, slot.deltaBytes, slot.deltas = int64(len(w.Data)), 0, 0
			} else {
				slot.deltaBytes += int64(len(w.Data))
				slot.deltas++
			}
		}
		slot.wrote = nil
	}
	p.cur = nil
}

func (p *partitioned[S]) abort() {
	for _, slot := range p.cur {
		slot.step.abort()
		slot.wrote = nil
		if slot.applied {
			// The state in memory is the range's end; the next run loads
			// the partition again.
			slot.pos = -1
		}
	}
	p.cur = nil
}

func (p *partitioned[S]) size() int {
	n := 0
	for _, slot := range p.parts {
		n += slot.step.size()
	}
	return n
}

// slotsNow are the running batch's steps, one per range.
func (p *partitioned[S]) slotsNow() []S {
	out := make([]S, len(p.cur))
	for i, s := range p.cur {
		out[i] = s.step
	}
	return out
}
