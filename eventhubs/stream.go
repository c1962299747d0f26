package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// DirectStream reads a hub as a sequence of batches, one RDD per batch with
// one task per partition: the Spark connector's EventHubsDirectDStream. Each
// batch reads, per partition, from where the previous batch ended up to
// the partition's rate (MaxRatesPerPartition, MaxRatePerPartition) or its
// last event.
type DirectStream struct {
	conf    *Conf
	outputs []func(context.Context, *RDD) error
	ssc     *streaming.Context
	events  *streaming.Source[*Event] // Events' source, once made

	// Owned by the goroutine running the stream (Start, Plan, Run, Stop).
	c      *client
	next   map[string]int64 // partition → the next batch's from
	bounds map[string]PartitionBounds
	share  *sharing // nil: the stream owns every partition
	// created is the creation time of the hub the stream reads; another
	// one in the hub's properties means the hub was created again.
	created time.Time
	// resetFrom holds, for partitions whose numbering restarted (the hub
	// was created again), the position the stream stood at: the next
	// range starts the new numbering at 0 and resets from it.
	resetFrom map[string]int64
	// checkpointed is the creation time of the hub a checkpoint's
	// positions are of (SameIdentity), zero when unknown.
	checkpointed time.Time
	// stored reads partitions' stored positions anew (SetStoredPositions).
	stored func(ctx context.Context, partitionIDs []string) (map[string]int64, error)
	rc     *rateController // nil without backpressure
}

// CreateDirectStream adds a stream of conf's hub to ssc. Register the
// output with ForeachRDD, then run ssc.
func CreateDirectStream(ssc *streaming.Context, conf *Conf) (*DirectStream, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	s := &DirectStream{conf: conf.Clone(), ssc: ssc}
	if conf.Backpressure() {
		rc, err := newRateController(ssc.BatchInterval(), conf.BackpressurePID())
		if err != nil {
			return nil, &Error{Code: CodeInvalidConf, Hub: conf.EventHubName(), Message: "backpressure", Err: err}
		}
		s.rc = rc
	}
	if err := ssc.AddInput(s); err != nil {
		return nil, err
	}
	if s.rc != nil {
		ssc.AddListener(s.rc)
	}
	return s, nil
}

// ForeachRDD registers fn as an output: it gets each batch's RDD, whose
// OffsetRanges say what the batch reads. A nil error means fn is done with
// the batch; an error stops the stream, and the batch, not marked done in a
// checkpoint, runs again after a restart. With several outputs each reads
// the batch anew, in the order registered. A retried batch
// (streaming.ContextOptions.Retry) runs again only the outputs that did
// not complete, and an output's error that says it had committed the
// batch counts as done where streaming.Batch.RunOutput says.
func (s *DirectStream) ForeachRDD(fn func(ctx context.Context, rdd *RDD) error) {
	s.outputs = append(s.outputs, fn)
}

// Identity is what a checkpoint of the stream records: the namespace's
// host (without a port, so an emulator may move), hub and consumer group,
// in lower case, since Event Hubs compares all three case-insensitively;
// once the stream started, also the creation time of the hub it reads.
func (s *DirectStream) Identity() streaming.Identity {
	id := streaming.Identity{"kind": "eventhubs", "eventHub": strings.ToLower(s.conf.EventHubName()),
		"consumerGroup": strings.ToLower(s.conf.ConsumerGroup())}
	if cs, err := s.conf.ConnectionString(); err == nil {
		id["namespace"] = strings.ToLower(cs.Hostname())
	}
	if !s.created.IsZero() {
		id[hubCreatedKey] = s.created.UTC().Format(time.RFC3339Nano)
	}
	return id
}

// hubCreatedKey holds, in a checkpoint's identity, the creation time of
// the hub its positions are of. It is not compared as the names are: a
// hub created again is the same stream, whose positions Start resets.
const hubCreatedKey = "hubCreated"

// SameIdentity compares a checkpoint's identity case-insensitively, so
// that a checkpoint written when the names were spelled otherwise resumes.
// It keeps the creation time of the hub the checkpoint's positions are of
// (checkpoints of older versions have none), for Start to compare with the
// hub's.
func (s *DirectStream) SameIdentity(stored streaming.Identity) bool {
	own, theirs := s.Identity(), maps.Clone(stored)
	delete(own, hubCreatedKey)
	delete(theirs, hubCreatedKey)
	if len(own) != len(theirs) {
		return false
	}
	for k, v := range own {
		if w, ok := theirs[k]; !ok || !strings.EqualFold(v, w) {
			return false
		}
	}
	s.checkpointed, _ = time.Parse(time.RFC3339Nano, stored[hubCreatedKey])
	return true
}

// Start checks the consumer group and sets where each partition starts:
// resume (a checkpoint) has it, else StartingPositions, else, for a stream
// that starts from nothing, StartingPosition. A stream that resumes (from a
// checkpoint or from StartingPositions, as a store loads them) reads a
// partition with no position from the start of the stream: the hub added
// it since, and none of its events may be lost.
func (s *DirectStream) Start(ctx context.Context, resume map[string]int64) error {
	if len(s.outputs) == 0 {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "the stream has no output: register one with ForeachRDD before running the context"}
	}
	c, err := defaultPool.clientFor(s.conf)
	if err != nil {
		return err
	}
	s.c = c
	s.next = map[string]int64{}
	if s.share != nil && len(resume) > 0 {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "a stream sharing partitions (SetOwnershipStore) keeps its positions in the ownership store or an offsets table, not in a streaming checkpoint: remove the context's checkpoint store"}
	}
	probe, hp, err := probeBounds(ctx, s.conf, nil)
	if err != nil {
		return err
	}
	defer probe.release()
	s.created, s.resetFrom = hp.CreatedOn, map[string]int64{}
	if s.share != nil {
		return s.startShared(ctx, probe, hp)
	}

	for id := range resume {
		if !slices.Contains(hp.PartitionIDs, id) {
			return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), PartitionID: id,
				Message: fmt.Sprintf("the checkpoint has partition %q, which the hub does not (it has %v)", id, hp.PartitionIDs)}
		}
	}
	if err := checkGroup(ctx, s.conf, probe, hp); err != nil {
		return err
	}
	named := s.conf.StartingPositions()
	resuming := len(resume) > 0 || len(named) > 0
	var asked []resolving
	for i, id := range hp.PartitionIDs {
		if seq, ok := resume[id]; ok {
			s.next[id] = seq
			continue
		}
		if _, ok := named[id]; !ok && resuming {
			s.conf.Logger().Info("eventhubs: partition has no stored position: the hub added it since, reading it from the start of the stream",
				"hub", s.conf.EventHubName(), "partition", id, "from", hp.Partitions[i].First)
			s.next[id] = hp.Partitions[i].First
			continue
		}
		asked = append(asked, resolving{role: startingPosition, id: id, p: s.conf.PositionFor(id), b: hp.Partitions[i]})
	}
	if err := s.resolveStarts(ctx, probe, asked); err != nil {
		return err
	}
	if !s.checkpointed.IsZero() && !s.checkpointed.Equal(s.created) {
		// The checkpoint's positions are of a hub deleted and created
		// again while the stream was down, which may hold events past them.
		if err := s.restarted(s.checkpointed, "while the stream was down", slices.Collect(maps.Keys(resume))); err != nil {
			return err
		}
	}
	if s.conf.exclusiveOr(true) {
		// Take the partitions now, idle ones included, so that an older
		// instance of the job stops at its next batch rather than at its
		// next event. Not where the position lies outside the partition
		// (data loss): the first batch decides about those.
		var parts []PartitionBounds
		for _, b := range hp.Partitions {
			if n := s.next[b.PartitionID]; n >= b.First && n <= b.End {
				parts = append(parts, b)
			}
		}
		return s.c.hold(ctx, s.conf, parts, s.next)
	}
	return nil
}

// resolveStarts sets where the asked partitions start, resolving their
// positions with probe.
func (s *DirectStream) resolveStarts(ctx context.Context, probe *client, asked []resolving) error {
	s.releaseForLookups(asked)
	seqs, err := resolveAll(ctx, s.conf, probe, asked)
	if err != nil {
		return err
	}
	for k, r := range asked {
		s.next[r.id] = seqs[k]
	}
	return nil
}

// releaseForLookups gives up the stream's own links on the partitions
// whose positions are looked up by reading (offsets, enqueued times):
// Claim took them exclusively, and the lookup reads without an owner
// level, which the service refuses while any exclusive link is open. Start
// takes them again once the positions are known.
func (s *DirectStream) releaseForLookups(asked []resolving) {
	for _, r := range asked {
		if k := r.p.Kind(); k == PositionOffset || k == PositionEnqueuedTime {
			s.c.closeReceiver(r.id)
		}
	}
}

// Claim takes the stream's partitions, when it reads exclusively, before
// its checkpoint is loaded (streaming.Claimer): an older instance of the
// job stops at its next read, so the checkpoint no longer moves under this
// one. Start then positions the receivers where the stream resumes.
func (s *DirectStream) Claim(ctx context.Context) error {
	if !s.conf.exclusiveOr(true) || s.share != nil {
		return nil
	}
	c, err := defaultPool.clientFor(s.conf)
	if err != nil {
		return err
	}
	defer c.release()
	probe, hp, err := probeBounds(ctx, s.conf, nil)
	if err != nil {
		return err
	}
	probe.release()
	end := map[string]int64{}
	for _, b := range hp.Partitions {
		end[b.PartitionID] = b.End
	}
	return c.hold(ctx, s.conf, hp.Partitions, end)
}

// Stop closes the stream's receivers, giving up its partitions, and
// releases its connection to the pool.
func (s *DirectStream) Stop() {
	if s.share != nil {
		s.share.close(s.noteChange)
	}
	if s.c != nil {
		// Give the partitions up now, not when the pool finds the links
		// idle: until then an ad-hoc read or a lag check of this consumer
		// group, in this process or another, would be refused.
		for id := range s.next {
			s.c.closeReceiver(id)
		}
		s.c.release()
		s.c = nil
	}
}

// newPartition is where a partition the hub added while the stream runs
// starts: StartingPositions if it names it, else the start of the stream.
func (s *DirectStream) newPartition(ctx context.Context, id string, b PartitionBounds) (int64, error) {
	p, ok := s.conf.StartingPositions()[id]
	if !ok {
		s.conf.Logger().Info("eventhubs: the hub has a new partition: reading it from the start of the stream",
			"hub", s.conf.EventHubName(), "partition", id, "from", b.First)
		return b.First, nil
	}
	probe, err := defaultPool.probeFor(s.conf)
	if err != nil {
		return 0, err
	}
	defer probe.release()
	s.releaseForLookups([]resolving{{id: id, p: p}})
	return resolveAs(ctx, s.conf, probe, startingPosition, id, p, b)
}

// Plan reads every partition's bounds and plans the batch: from the
// previous until up to the rate or the last event. A partition whose
// events before from were removed, or whose sequence numbers restarted
// (a hub deleted and created again), is data loss: an error with
// FailOnDataLoss, else a warning, and the read skips what is gone.
func (s *DirectStream) Plan(ctx context.Context, _ time.Time) (streaming.Plan, error) {
	var ids []string // nil: all
	if s.share != nil {
		owned, err := s.takeOwnership()
		if err != nil {
			return streaming.Plan{}, err
		}
		ids = append([]string{}, owned...)
	}
	hp, err := s.c.describe(ctx, s.conf, ids)
	if err != nil {
		return streaming.Plan{}, err
	}
	if err := s.checkCreated(hp); err != nil {
		return streaming.Plan{}, err
	}
	if s.share != nil {
		if err := s.gain(ctx, hp); err != nil {
			return streaming.Plan{}, err
		}
	}
	hub := s.conf.EventHubName()
	s.bounds = map[string]PartitionBounds{}
	var plan streaming.Plan
	limit, rate := s.batchLimits(hp.Partitions)
	plan.Rate = rate
	for _, b := range hp.Partitions {
		id := b.PartitionID
		s.bounds[id] = b
		from, ok := s.next[id]
		if !ok { // a partition added to the hub while the stream runs
			if from, err = s.newPartition(ctx, id, b); err != nil {
				return streaming.Plan{}, err
			}
		}
		resetFrom, reset := s.resetFrom[id]
		if reset {
			delete(s.resetFrom, id)
		} else if from > b.End {
			msg := fmt.Sprintf("wanted sequence number %d, but the partition holds [%d, %d): its sequence numbers restarted (was the hub deleted and created again?)", from, b.First, b.End)
			if s.conf.FailOnDataLoss() {
				return streaming.Plan{}, &Error{Code: CodeDataLoss, Hub: hub, PartitionID: id, Message: msg + "; set FailOnDataLoss false to continue from the first available event"}
			}
			// The range starts the new numbering at 0, so that the read
			// counts its events that retention removed as skipped; the old
			// numbering's events after from, if any, are gone uncounted.
			s.conf.Logger().Warn("eventhubs: "+msg+"; continuing from the first available event, events the stream had not read before the restart are lost",
				"hub", hub, "partition", id, "position", from, "first", b.First)
			resetFrom, from = from, 0
		}
		if from < b.First && s.conf.FailOnDataLoss() {
			return streaming.Plan{}, &Error{Code: CodeDataLoss, Hub: hub, PartitionID: id,
				Message: fmt.Sprintf("wanted sequence number %d, the first available is %d: %d events are gone (retention); set FailOnDataLoss false to skip them", from, b.First, b.First-from)}
		}
		// Reading starts at the first available event; the range still
		// starts at from, so that ranges stay contiguous and the read
		// counts what it skipped.
		until := min(max(from, b.First)+limit(id), b.End)
		s.next[id] = until
		plan.Ranges = append(plan.Ranges, streaming.Range{Source: hub, Partition: id, From: from, Until: until, ResetFrom: resetFrom})
		plan.Lag = append(plan.Lag, b.End-until)
	}
	if s.conf.exclusiveOr(true) {
		var idle []PartitionBounds
		for _, r := range plan.Ranges {
			if r.Count() == 0 && r.ResetFrom == 0 {
				idle = append(idle, s.bounds[r.Partition])
			}
		}
		if s.share != nil {
			return s.holdShared(ctx, plan, idle)
		}
		if err := s.c.hold(ctx, s.conf, idle, s.next); err != nil {
			return streaming.Plan{}, err
		}
	}
	return plan, nil
}

// checkCreated notices a hub created again while the stream runs: its
// creation time changed, and its sequence numbers restarted.
func (s *DirectStream) checkCreated(hp *HubProperties) error {
	if s.created.IsZero() || hp.CreatedOn.IsZero() || hp.CreatedOn.Equal(s.created) {
		return nil
	}
	was := s.created
	s.created = hp.CreatedOn
	return s.restarted(was, "while the stream ran", slices.Collect(maps.Keys(s.next)))
}

// restarted handles partitions ids whose positions are of the hub created
// at was, which was deleted and created again (when says when): with
// FailOnDataLoss that is an error; without, each starts the new numbering
// at 0, resetting from where it stood.
func (s *DirectStream) restarted(was time.Time, when string, ids []string) error {
	msg := fmt.Sprintf("the hub was deleted and created again %s (it was created at %s, now at %s): its sequence numbers restarted, and the events the stream had not read are gone",
		when, was.UTC().Format(time.RFC3339Nano), s.created.UTC().Format(time.RFC3339Nano))
	if s.conf.FailOnDataLoss() {
		return &Error{Code: CodeDataLoss, Hub: s.conf.EventHubName(), Message: msg + "; set FailOnDataLoss false to read the new hub from its first event"}
	}
	s.conf.Logger().Warn("eventhubs: "+msg+"; reading the new hub from its first event", "hub", s.conf.EventHubName())
	for _, id := range ids {
		if next := s.next[id]; next > 0 {
			s.resetFrom[id] = next
		}
		s.next[id] = 0
	}
	return nil
}

// Run hands the batch's RDD to each output.
func (s *DirectStream) Run(ctx context.Context, b *streaming.Batch) (streaming.Result, error) {
	rdd := &RDD{conf: s.conf, ranges: make([]OffsetRange, 0, len(b.Ranges)), batchTime: b.Time}
	for _, r := range b.Ranges {
		if !strings.EqualFold(r.Source, s.conf.EventHubName()) {
			return streaming.Result{}, &Error{Code: CodeInvalidRange, Hub: r.Source, PartitionID: r.Partition,
				Message: fmt.Sprintf("the batch's range %s is of another hub than %q", r, s.conf.EventHubName())}
		}
		rdd.ranges = append(rdd.ranges, OffsetRange{Name: s.conf.EventHubName(), PartitionID: r.Partition, FromSeqNo: r.From, UntilSeqNo: r.Until,
			ResetFrom: r.ResetFrom, HubCreatedOn: s.created})
	}
	if !b.Replay {
		rdd.bounds = s.bounds
	} else {
		// A replayed batch also sets where the next one starts.
		for _, r := range b.Ranges {
			s.next[r.Partition] = r.Until
		}
	}
	var skipped int64
	perRange := make([]int64, len(b.Ranges))
	for i, fn := range s.outputs {
		// A retried batch runs only the outputs that did not complete.
		if err := b.RunOutput(i, func() error { return fn(ctx, rdd) }); err != nil {
			if s.share != nil {
				if id, ok := stalePartition(err); ok {
					return streaming.Result{}, s.replan(b, id, err)
				}
			}
			var st StaleRange
			if s.stored != nil && errors.As(err, &st) {
				return streaming.Result{}, s.reread(ctx, b, st.StalePartition(), err)
			}
			return streaming.Result{}, err
		}
		skipped = max(skipped, rdd.Skipped())
		for i, n := range rdd.skippedByRange() {
			perRange[i] = max(perRange[i], n)
		}
	}
	if s.share != nil && s.share.opts.WriteCheckpoints {
		s.writeCheckpoints(ctx, rdd)
	}
	if s.rc != nil {
		s.rc.ran(b.Number, rdd.Count()-skipped)
	}
	return streaming.Result{Events: rdd.Count() - skipped, Skipped: skipped, RangeSkipped: perRange}, nil
}

// SetStoredPositions gives the stream where the job's positions are
// stored, for a batch whose range of a partition turns out stale: its
// output found the stored position moved (offsets.MismatchError is a
// StaleRange), because a run killed a moment before committed after this
// one read the positions, or another instance of the job committed. The
// stream then abandons the batch (its transaction rolled back), reads the
// partition's stored position anew, and plans again from there, instead
// of failing. A stream sharing partitions does this with
// OwnershipOptions.Positions. Call it before the context runs.
func (s *DirectStream) SetStoredPositions(fn func(ctx context.Context, partitionIDs []string) (map[string]int64, error)) {
	s.stored = fn
}

// reread is replan for a stream that owns every partition: the stale
// partition continues from its stored position, read now.
func (s *DirectStream) reread(ctx context.Context, b *streaming.Batch, id string, cause error) error {
	pos, err := s.stored(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("%w (reading the stored position anew: %w)", cause, err)
	}
	seq, ok := pos[id]
	if !ok {
		return cause
	}
	s.rewind(b)
	s.next[id] = seq
	s.conf.Logger().Warn("eventhubs: the batch's range of a partition is stale: its stored position moved (a killed run's late commit, or another instance of the job); planning the batch again from the stored position",
		"hub", s.conf.EventHubName(), "partition", id, "batch", b.Number, "stored", seq, "cause", cause)
	return fmt.Errorf("%w: partition %s: %w", streaming.ErrReplan, id, cause)
}

// Conf is the stream's configuration (a copy).
func (s *DirectStream) Conf() *Conf { return s.conf.Clone() }

var (
	_ streaming.Input   = (*DirectStream)(nil)
	_ streaming.Claimer = (*DirectStream)(nil)
)
