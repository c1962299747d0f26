package eventhubs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// aheadBytes is the read-aheads' count of the connection the stream
	// runs on (ReadAheadBytes), nil while it does not run.
	aheadBytes atomic.Pointer[atomic.Int64]

	// Owned by the goroutine running the stream (Start, Plan, Run, Stop).
	c      *client
	next   map[string]int64 // partition → the next batch's from
	bounds map[string]PartitionBounds
	// assign says which partitions the stream reads and how it comes by
	// them: every partition (allPartitions), or a replica's share
	// (sharing, SetOwnershipStore).
	assign assignment
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

	// hub and hubAt: the hub's properties, as last read at hubAt, with
	// read-ahead (arrived.go).
	hub   *HubProperties
	hubAt time.Time
	// filledAt is when the partitions whose read-ahead stopped on its
	// bound were last asked for their bounds (planBounds).
	filledAt time.Time
	// known is, per partition, the end (last sequence number + 1) the
	// stream saw it hold, with read-ahead.
	known map[string]int64

	watch *jobWatch // WatchJob's; nil without
	// ranMu guards ran: where the partitions stood when the stream started
	// and after each batch whose outputs returned, for a watch (publish).
	ranMu sync.Mutex
	ran   map[string]int64
}

// CreateDirectStream adds a stream of conf's hub to ssc. Register the
// output with ForeachRDD, then run ssc.
func CreateDirectStream(ssc *streaming.Context, conf *Conf) (*DirectStream, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	s := &DirectStream{conf: conf.Clone(), ssc: ssc}
	s.assign = &allPartitions{s: s}
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
	if host, err := s.conf.NamespaceHost(); err == nil {
		id["namespace"] = strings.ToLower(host)
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
// it since, and none of its events may be lost. A stream sharing
// partitions starts those it owns from their stored positions.
func (s *DirectStream) Start(ctx context.Context, resume map[string]int64) error {
	if len(s.outputs) == 0 {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "the stream has no output: register one with ForeachRDD before running the context"}
	}
	c, err := defaultPool.clientFor(s.conf)
	if err != nil {
		return err
	}
	s.c = c
	s.aheadBytes.Store(&c.aheadBytes)
	s.next, s.known = map[string]int64{}, map[string]int64{}
	if err := s.assign.start(ctx, resume); err != nil {
		return err
	}
	s.publish(s.next)
	s.watch.start()
	s.lendAll()
	return nil
}

// probeHub reads the hub and its partitions' bounds on the probing
// connection, which the caller releases, and notes the hub's creation time
// and the partitions' ends.
func (s *DirectStream) probeHub(ctx context.Context) (*client, *HubProperties, error) {
	probe, hp, err := probeBounds(ctx, s.conf, nil)
	if err != nil {
		return nil, nil, err
	}
	s.created, s.resetFrom = hp.CreatedOn, map[string]int64{}
	for _, b := range hp.Partitions {
		s.known[b.PartitionID] = b.End
	}
	return probe, hp, nil
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
// one. Start then positions the receivers where the stream resumes. A
// stream sharing partitions claims them through its store, when it starts.
func (s *DirectStream) Claim(ctx context.Context) error { return s.assign.claim(ctx) }

// Stop closes the stream's receivers, giving up its partitions, and
// releases its connection to the pool.
func (s *DirectStream) Stop() {
	s.watch.stop()
	s.assign.stop()
	if s.c != nil {
		// Give the partitions up now, not when the pool finds the links
		// idle: until then an ad-hoc read or a lag check of this consumer
		// group, in this process or another, would be refused.
		for id := range s.next {
			s.c.closeReceiver(id)
		}
		s.aheadBytes.Store(nil)
		s.c.release()
		s.c = nil
	}
}

// Plan reads the bounds of the partitions the stream reads and plans the
// batch: from the previous until up to the rate or the last event. A
// partition whose events before from were removed, or whose sequence
// numbers restarted (a hub deleted and created again), is data loss: an
// error with FailOnDataLoss, else a warning, and the read skips what is
// gone.
func (s *DirectStream) Plan(ctx context.Context, _ time.Time) (streaming.Plan, error) {
	ids, err := s.assign.partitions()
	if err != nil {
		return streaming.Plan{}, err
	}
	hp, err := s.planBounds(ctx, ids)
	if err != nil {
		return streaming.Plan{}, err
	}
	if err := s.checkCreated(hp); err != nil {
		return streaming.Plan{}, err
	}
	if err := s.assign.place(ctx, hp); err != nil {
		return streaming.Plan{}, err
	}
	plan, err := s.planRanges(hp.Partitions)
	if err != nil || !s.conf.exclusiveOr(true) {
		return plan, err
	}
	plan, err = s.assign.holdIdle(ctx, plan, s.notReading(s.idle(plan)))
	s.lendAll()
	return plan, err
}

// planRanges plans each partition's range of the batch and moves the
// partition's position to the range's end.
func (s *DirectStream) planRanges(parts []PartitionBounds) (streaming.Plan, error) {
	s.bounds = map[string]PartitionBounds{}
	var plan streaming.Plan
	limit, rate := s.batchLimits(parts)
	plan.Rate = rate
	hub := s.conf.EventHubName() // parsed from the connection string: once a batch
	for _, b := range parts {
		s.bounds[b.PartitionID] = b
		r, err := s.planRange(hub, b, limit(b.PartitionID))
		if err != nil {
			return streaming.Plan{}, err
		}
		s.next[b.PartitionID] = r.Until
		plan.Ranges = append(plan.Ranges, r)
		plan.Lag = append(plan.Lag, b.End-r.Until)
	}
	return plan, nil
}

// planRange is partition b's range of the batch: from its position, at
// most limit events, up to its last event.
func (s *DirectStream) planRange(hub string, b PartitionBounds, limit int64) (streaming.Range, error) {
	id := b.PartitionID
	from := s.next[id]
	resetFrom, reset := s.resetFrom[id]
	if reset {
		delete(s.resetFrom, id)
	} else if from > b.End {
		msg := fmt.Sprintf("wanted sequence number %d, but the partition holds [%d, %d): its sequence numbers restarted (was the hub deleted and created again?)", from, b.First, b.End)
		if s.conf.FailOnDataLoss() {
			return streaming.Range{}, &Error{Code: CodeDataLoss, Hub: hub, PartitionID: id, Message: msg + "; set FailOnDataLoss false to continue from the first available event"}
		}
		// The range starts the new numbering at 0, so that the read
		// counts its events that retention removed as skipped; the old
		// numbering's events after from, if any, are gone uncounted.
		s.conf.Logger().Warn("eventhubs: "+msg+"; continuing from the first available event, events the stream had not read before the restart are lost",
			"hub", hub, "partition", id, "position", from, "first", b.First)
		resetFrom, from = from, 0
	}
	if from < b.First && s.conf.FailOnDataLoss() {
		return streaming.Range{}, &Error{Code: CodeDataLoss, Hub: hub, PartitionID: id,
			Message: fmt.Sprintf("wanted sequence number %d, the first available is %d: %d events are gone (retention); set FailOnDataLoss false to skip them", from, b.First, b.First-from)}
	}
	// Reading starts at the first available event; the range still
	// starts at from, so that ranges stay contiguous and the read
	// counts what it skipped.
	until := min(max(from, b.First)+limit, b.End)
	return streaming.Range{Source: hub, Partition: id, From: from, Until: until, ResetFrom: resetFrom}, nil
}

// idle is the partitions the plan neither reads nor resets: their links
// are checked (hold), so that the stream notices another reader took one
// now rather than at its next event.
func (s *DirectStream) idle(plan streaming.Plan) []PartitionBounds {
	var idle []PartitionBounds
	for _, r := range plan.Ranges {
		if r.Count() == 0 && r.ResetFrom == 0 {
			idle = append(idle, s.bounds[r.Partition])
		}
	}
	return idle
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
		delete(s.known, id) // of the old numbering
	}
	return nil
}

// Run hands the batch's RDD to each output.
func (s *DirectStream) Run(ctx context.Context, b *streaming.Batch) (streaming.Result, error) {
	rdd := &RDD{conf: s.conf, ranges: make([]OffsetRange, 0, len(b.Ranges)), batchTime: b.Time}
	if s.watch != nil {
		rdd.onFirst = s.watch.noteRead
	}
	hub := s.conf.EventHubName()
	for _, r := range b.Ranges {
		if !strings.EqualFold(r.Source, hub) {
			return streaming.Result{}, &Error{Code: CodeInvalidRange, Hub: r.Source, PartitionID: r.Partition,
				Message: fmt.Sprintf("the batch's range %s is of another hub than %q", r, hub)}
		}
		rdd.ranges = append(rdd.ranges, OffsetRange{Name: hub, PartitionID: r.Partition, FromSeqNo: r.From, UntilSeqNo: r.Until,
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
			return streaming.Result{}, s.assign.stale(ctx, b, err)
		}
		skipped = max(skipped, rdd.Skipped())
		for i, n := range rdd.skippedByRange() {
			perRange[i] = max(perRange[i], n)
		}
	}
	s.assign.ran(ctx, rdd)
	s.lendAll()
	s.publish(untils(b.Ranges))
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
// OwnershipOptions.Positions. A stream with no checkpoint positions to
// resume from (a first start, or its checkpoint deleted) also starts each
// partition from its stored position, where there is one, and says so in
// the log. Call it before the context runs.
func (s *DirectStream) SetStoredPositions(fn func(ctx context.Context, partitionIDs []string) (map[string]int64, error)) {
	s.stored = fn
}

// untils is where each partition of ranges stands after them.
func untils(ranges []streaming.Range) map[string]int64 {
	out := make(map[string]int64, len(ranges))
	for _, r := range ranges {
		out[r.Partition] = r.Until
	}
	return out
}

// drop forgets a partition's position and gives its link up.
func (s *DirectStream) drop(id string) {
	if _, ok := s.next[id]; !ok {
		return
	}
	delete(s.next, id)
	delete(s.resetFrom, id)
	delete(s.known, id)
	s.c.closeReceiver(id)
}

// rewind makes every partition of the abandoned batch b start the next
// batch where b started, a range that reset its position resetting it
// again. The abandoned read may have left a link anywhere in its range
// (what it fetched ahead included): the next read positions anew.
func (s *DirectStream) rewind(b *streaming.Batch) {
	for _, r := range b.Ranges {
		if _, ok := s.next[r.Partition]; ok {
			s.next[r.Partition] = r.From
			if r.ResetFrom != 0 {
				s.resetFrom[r.Partition] = r.ResetFrom
			}
		}
		s.c.closeReceiver(r.Partition)
	}
}

// Context is the streaming context the stream was added to.
func (s *DirectStream) Context() *streaming.Context { return s.ssc }

// Conf is the stream's configuration (a copy).
func (s *DirectStream) Conf() *Conf { return s.conf.Clone() }

var (
	_ streaming.Input   = (*DirectStream)(nil)
	_ streaming.Claimer = (*DirectStream)(nil)
)
