package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/streaming"
	"github.com/ehstream/ehstream/streaming/parallel"
)

// OwnershipOptions holds the optional settings of SetOwnershipStore; nil
// means defaults.
type OwnershipOptions struct {
	// OwnerID names this replica in the ownership records; unique among
	// the replicas, stable while it runs. "" means hostname-pid.
	OwnerID string
	// Strategy, UpdateInterval and Expiration are the protocol's, with
	// the SDKs' defaults: balanced, 10 s, 60 s.
	Strategy       balance.Strategy
	UpdateInterval time.Duration
	Expiration     time.Duration
	// JoinWindow is how long a replica that owns nothing, having claimed a
	// first free partition, waits for replicas starting with it before it
	// claims the rest of its share (balance.Options.JoinWindow); replicas
	// started further apart settle by taking one partition a round from
	// each other. 0 means UpdateInterval/2; it must be shorter than
	// UpdateInterval.
	JoinWindow time.Duration
	// Positions returns where the given partitions, newly owned, start:
	// the next sequence number to read, for those that have one. Give it
	// when the job's positions live elsewhere than the store's checkpoints
	// (an offsets table beside a Blob store). Nil means the store's
	// checkpoints.
	Positions func(ctx context.Context, partitionIDs []string) (map[string]int64, error)
	// WriteCheckpoints writes, after each batch whose outputs returned nil,
	// the checkpoint of every partition it moved to the store, so that
	// stock SDK processors sharing the consumer group start where this
	// stream left off. Not needed when the store's checkpoints are the
	// job's positions (the SQL stores of package ownership).
	WriteCheckpoints bool
	// OnChange hears of every partition gained or lost, and why; it runs
	// on the stream's goroutine and must not block. Changes are logged
	// whether or not it is set.
	OnChange func(balance.Change)
	// Namespace names the namespace in the ownership records and
	// checkpoints, as the SDKs name it; "" means the conf's endpoint (its
	// host and port). Replicas must agree on it: give the same name where
	// they reach one namespace under several host names (ehstream stream
	// gives the one its positions are stored for; see
	// offsets.Store.Resume).
	Namespace string
}

// sharing is the assignment of a stream that is one of several replicas
// sharing the hub's partitions through an ownership store: it reads the
// partitions its rounds claimed, starts each from its stored position,
// and plans a partition again, rather than failing, when another replica
// moved its position or took its link.
type sharing struct {
	s          *DirectStream
	store      azeventhubs.CheckpointStore
	opts       OwnershipOptions
	interval   time.Duration // between rounds, as the rounds run them
	expiration time.Duration // of the claims, as the rounds make them
	rounds     *rounds
	// started is set once start placed the first partitions: a failure
	// to read positions then stops the stream at once; later, while the
	// stream runs, it waits (unplaced) as long as the claims stand.
	started bool
	// unplacedSince is when reading newly owned partitions' positions
	// began failing, zero while it succeeds.
	unplacedSince time.Time
}

// SetOwnershipStore makes the stream one of several replicas of a job that
// share the consumer group's partitions through the ownership protocol of
// the official SDKs, over store (package ownership opens one from a
// PostgreSQL or SQLite database or a Blob container). The stream then reads
// only the partitions it owns: it claims and renews them every
// UpdateInterval, starts a newly owned partition from its stored position
// (else from the conf's starting position), drops a partition it lost, and
// relinquishes all of them when it stops. A batch whose range of a
// partition turns out stale (the partition's reader was taken, or
// CommitOffsets refused the range because another replica moved the
// position) is planned again without failing the stream. Call it before
// the context runs; a stream that shares partitions keeps no streaming
// checkpoint: its positions are in the store or an offsets table.
//
// While the store fails, the stream goes on reading the partitions it
// owns, with a warning at every batch: its claims stand until Expiration
// after the last round that renewed them, and the positions' check keeps
// a stale batch from committing. Once no round has succeeded for
// Expiration, the claims have lapsed, other replicas may take the
// partitions, and the replica cannot know which are still its own: the
// stream stops with CodeOwnershipStore and the store's error in the
// chain, for whatever runs it to restart it or raise the alarm. So does a
// partition gained while its position cannot be read: it waits, unread,
// for a later batch, until the failure outlasts Expiration. A store that
// fails the first round, or the positions of the first partitions, stops
// the stream at once with the same code.
func (s *DirectStream) SetOwnershipStore(store azeventhubs.CheckpointStore, opts *OwnershipOptions) error {
	if store == nil {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "SetOwnershipStore: the store is nil"}
	}
	o, b, err := newOwnershipBalancer(s.conf, store, opts)
	if err != nil {
		return err
	}
	s.conf.replica = o.OwnerID
	s.assign = &sharing{s: s, store: store, opts: o, interval: b.UpdateInterval(), expiration: b.Expiration(), rounds: &rounds{b: b}}
	return nil
}

// CheckOwnershipJob returns a *balance.OtherJobError when live claims of
// conf's consumer group in store belong to another job than the store's
// (a balance.JobStore, as package ownership's SQL stores are), as the
// first round of SetOwnershipStore with the same options would once the
// stream runs; nil when none do, or when the store records no jobs. It
// claims nothing: call it before the job stores anything, so that a
// refused job leaves nothing behind.
func CheckOwnershipJob(ctx context.Context, conf *Conf, store azeventhubs.CheckpointStore, opts *OwnershipOptions) error {
	if store == nil {
		return &Error{Code: CodeInvalidConf, Hub: conf.EventHubName(), Message: "CheckOwnershipJob: the store is nil"}
	}
	_, b, err := newOwnershipBalancer(conf, store, opts)
	if err != nil {
		return err
	}
	return b.CheckJob(ctx)
}

// newOwnershipBalancer is opts with their defaults (the owner ID, the
// namespace) and the balancer of conf's consumer group over store.
func newOwnershipBalancer(conf *Conf, store azeventhubs.CheckpointStore, opts *OwnershipOptions) (OwnershipOptions, *balance.Balancer, error) {
	o := OwnershipOptions{}
	if opts != nil {
		o = *opts
	}
	if o.OwnerID == "" {
		host, _ := os.Hostname()
		o.OwnerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Namespace == "" {
		ns, err := conf.FullyQualifiedNamespace()
		if err != nil {
			return o, nil, err
		}
		o.Namespace = ns
	}
	b, err := balance.New(store, balance.Consumer{Namespace: o.Namespace, EventHub: conf.EventHubName(), ConsumerGroup: conf.ConsumerGroup()},
		o.OwnerID, &balance.Options{Strategy: o.Strategy, UpdateInterval: o.UpdateInterval, Expiration: o.Expiration, JoinWindow: o.JoinWindow})
	if err != nil {
		return o, nil, &Error{Code: CodeInvalidConf, Hub: conf.EventHubName(), Message: "ownership options", Err: err}
	}
	return o, b, nil
}

// OwnerID is the replica's owner ID, "" for a stream that owns every
// partition.
func (s *DirectStream) OwnerID() string { return s.assign.owner() }

// positions is where newly owned partitions start: Positions, else the
// store's checkpoints (the last sequence number processed, plus one).
func (sh *sharing) positions(ctx context.Context, ids []string) (map[string]int64, error) {
	if sh.opts.Positions != nil {
		return sh.opts.Positions(ctx, ids)
	}
	cps, err := sh.store.ListCheckpoints(ctx, sh.opts.Namespace, sh.s.conf.EventHubName(), sh.s.conf.ConsumerGroup(), nil)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoints of the store: %w", err)
	}
	out := map[string]int64{}
	for _, cp := range cps {
		if cp.SequenceNumber != nil && slices.Contains(ids, cp.PartitionID) {
			out[cp.PartitionID] = *cp.SequenceNumber + 1
		}
	}
	return out, nil
}

// StaleRange is implemented by errors that say a batch's range of a
// partition is stale: its stored position is no longer the range's start,
// because another reader moved it. offsets.MismatchError is one. A stream
// sharing partitions plans that partition again instead of failing.
type StaleRange interface {
	error
	StalePartition() string
}

// stalePartition is the partition a batch's error says the stream must
// read anew: one whose reader was taken, or whose range is stale.
func stalePartition(err error) (string, bool) {
	var st StaleRange
	if errors.As(err, &st) {
		return st.StalePartition(), true
	}
	var e *Error
	if errors.As(err, &e) && e.Code == CodeOwnershipLost && e.PartitionID != "" {
		return e.PartitionID, true
	}
	return "", false
}

// claim claims nothing ahead: the store's rounds claim, when the stream
// starts.
func (sh *sharing) claim(context.Context) error { return nil }

// start claims the replica's first partitions, starts them from their
// stored positions, and takes their links. A replica's positions are in
// the store or an offsets table, never in a streaming checkpoint.
func (sh *sharing) start(ctx context.Context, resume map[string]int64) error {
	s := sh.s
	if len(resume) > 0 {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "a stream sharing partitions (SetOwnershipStore) keeps its positions in the ownership store or an offsets table, not in a streaming checkpoint: remove the context's checkpoint store"}
	}
	probe, hp, err := s.probeHub(ctx)
	if err != nil {
		return err
	}
	defer probe.release()
	if err := checkGroup(ctx, s.conf, probe, hp); err != nil {
		return err
	}
	if err := sh.rounds.first(ctx, hp.PartitionIDs); err != nil {
		return &Error{Code: roundCode(err), Hub: s.conf.EventHubName(), Message: "the first ownership round", Err: err}
	}
	owned, err := sh.partitions()
	if err != nil {
		return err
	}
	var parts []PartitionBounds
	for _, b := range hp.Partitions {
		if slices.Contains(owned, b.PartitionID) {
			parts = append(parts, b)
		}
	}
	if err := sh.place(ctx, &HubProperties{Name: hp.Name, PartitionIDs: hp.PartitionIDs, Partitions: parts}); err != nil {
		return err
	}
	sh.started = true
	if s.conf.exclusiveOr(true) {
		return s.c.hold(ctx, s.conf, parts, s.next)
	}
	return nil
}

// partitions takes in the rounds' changes: it drops the partitions lost
// and returns those owned now (never nil: a replica that owns nothing
// reads nothing).
func (sh *sharing) partitions() ([]string, error) {
	s := sh.s
	f := sh.rounds.take()
	for _, c := range f.changes {
		sh.note(c)
		if !c.Gained {
			s.drop(c.PartitionID)
		}
	}
	for id := range s.next {
		if !slices.Contains(f.owned, id) {
			s.drop(id)
		}
	}
	if f.err == nil {
		return append([]string{}, f.owned...), nil
	}
	switch since := time.Since(f.renewed); {
	case roundCode(f.err) == CodeInvalidConf:
		return nil, &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "an ownership round", Err: f.err}
	case since >= sh.expiration:
		return nil, &Error{Code: CodeOwnershipStore, Hub: s.conf.EventHubName(), Err: f.err,
			Message: fmt.Sprintf("no ownership round succeeded for %s, since %s: the replica's claims, which last %s unrenewed, have lapsed, and other replicas may take its partitions",
				since.Round(time.Millisecond), f.renewed.Format(time.RFC3339Nano), sh.expiration)}
	}
	// Claims outlive a few failed rounds; the positions' check keeps a
	// stale batch from committing meanwhile.
	s.conf.Logger().Warn("eventhubs: an ownership round failed; reading the partitions owned before", "hub", s.conf.EventHubName(), "err", f.err)
	return append([]string{}, f.owned...), nil
}

// roundCode is the code of a stream's error for an ownership round that
// failed with err: CodeInvalidConf when another job's replicas claimed in
// the consumer group (two jobs started together, each of which would
// write only some partitions), else CodeOwnershipStore: the store failed.
func roundCode(err error) ErrorCode {
	var other *balance.OtherJobError
	if errors.As(err, &other) {
		return CodeInvalidConf
	}
	return CodeOwnershipStore
}

// place positions the partitions of hp the stream owns but has no
// position for: newly owned ones, and those whose batch was found stale.
func (sh *sharing) place(ctx context.Context, hp *HubProperties) error {
	s := sh.s
	sh.rounds.seen(hp.PartitionIDs)
	var ids []string
	for _, b := range hp.Partitions {
		if _, ok := s.next[b.PartitionID]; !ok {
			ids = append(ids, b.PartitionID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	stored, err := sh.positions(ctx, ids)
	if err != nil {
		return sh.placeLater(hp, ids, err)
	}
	sh.unplacedSince = time.Time{}
	// A job that resumed (its positions are StartingPositions) stored a
	// position for every partition when it started (offsets.Store.Resume):
	// one without is a partition the hub added since, read from its first
	// event, as a stream that owns every partition reads it. Otherwise the
	// starting position is resolved now.
	resumed := len(s.conf.StartingPositions()) > 0
	var asked []resolving
	for _, b := range hp.Partitions {
		id := b.PartitionID
		if !slices.Contains(ids, id) {
			continue
		}
		if seq, ok := stored[id]; ok {
			s.next[id] = seq
			continue
		}
		if resumed {
			s.next[id] = b.First
			continue
		}
		asked = append(asked, resolving{role: startingPosition, id: id, p: s.conf.PositionFor(id), b: b})
	}
	if len(asked) == 0 {
		return nil
	}
	probe, err := defaultPool.probeFor(s.conf)
	if err != nil {
		return err
	}
	defer probe.release()
	return s.resolveStarts(ctx, probe, asked)
}

// placeLater leaves the partitions ids, whose positions could not be read
// (err), out of hp's this batch: they wait for a later plan, as long as
// the claims stand, so that a database restarting while another replica
// hands a partition over stops no replica. At start, or once the failure
// outlasts the claims, it is the stream's error.
func (sh *sharing) placeLater(hp *HubProperties, ids []string, err error) error {
	s := sh.s
	if sh.unplacedSince.IsZero() {
		sh.unplacedSince = time.Now()
	}
	since := time.Since(sh.unplacedSince)
	if !sh.started || since >= sh.expiration {
		msg := "reading the positions of newly owned partitions"
		if sh.started {
			msg += fmt.Sprintf(": failing for %s, longer than the claims last unrenewed (%s)", since.Round(time.Millisecond), sh.expiration)
		}
		return &Error{Code: CodeOwnershipStore, Hub: s.conf.EventHubName(), Message: msg, Err: err}
	}
	s.conf.Logger().Warn("eventhubs: reading the positions of newly owned partitions failed; reading them at a later batch",
		"hub", s.conf.EventHubName(), "partitions", ids, "err", err)
	hp.Partitions = slices.DeleteFunc(hp.Partitions, func(b PartitionBounds) bool { return slices.Contains(ids, b.PartitionID) })
	return nil
}

// holdIdle checks the idle partitions' links, as a stream that owns every
// partition does, but a partition found taken is dropped from the plan
// rather than failing the stream: another replica took it, and the next
// round will say so.
func (sh *sharing) holdIdle(ctx context.Context, plan streaming.Plan, idle []PartitionBounds) (streaming.Plan, error) {
	s := sh.s
	errs := make([]error, len(idle))
	parallel.Each(len(idle), func(i int) error {
		errs[i] = s.c.hold(ctx, s.conf, idle[i:i+1], s.next)
		return nil
	})
	for i, err := range errs {
		if err == nil {
			continue
		}
		if !HasCode(err, CodeOwnershipLost) {
			return streaming.Plan{}, err
		}
		id := idle[i].PartitionID
		s.conf.Logger().Info("eventhubs: another reader took an idle partition; dropping it until the ownership records say it is this replica's",
			"hub", s.conf.EventHubName(), "partition", id, "owner", sh.opts.OwnerID)
		sh.rounds.markTaken(id)
		s.drop(id)
		for k, r := range plan.Ranges {
			if r.Partition == id {
				plan.Ranges = slices.Delete(plan.Ranges, k, k+1)
				plan.Lag = slices.Delete(plan.Lag, k, k+1)
				break
			}
		}
	}
	return plan, nil
}

// stale undoes the batch's plan after its range of a partition turned out
// stale: every partition starts the next batch where this one started,
// and that one from its stored position, read anew, if the stream still
// owns it.
func (sh *sharing) stale(_ context.Context, b *streaming.Batch, cause error) error {
	id, ok := stalePartition(cause)
	if !ok {
		return cause
	}
	s := sh.s
	s.rewind(b)
	if HasCode(cause, CodeOwnershipLost) {
		sh.rounds.markTaken(id)
	}
	s.drop(id)
	s.conf.Logger().Info("eventhubs: the batch's range of a partition is stale (another replica moved its position or took its reader); planning it again",
		"hub", s.conf.EventHubName(), "partition", id, "batch", b.Number, "cause", cause)
	return fmt.Errorf("%w: partition %s: %w", streaming.ErrReplan, id, cause)
}

// ran writes the store's checkpoints of the ranges that moved, with
// WriteCheckpoints. They are for stock processors, which start after
// them; a failure leaves them behind, which costs those processors a
// re-read, so it is logged and the stream goes on.
//
// A checkpoint carries the last event's offset as well as its sequence
// number (the SDK's Blob store lists none without): the offset an output's
// read handed out, else the partition's last when the range ends there.
// Without either, as when no output read the events, none is written.
func (sh *sharing) ran(ctx context.Context, rdd *RDD) {
	if !sh.opts.WriteCheckpoints {
		return
	}
	hub := sh.s.conf.EventHubName()
	for _, r := range rdd.ranges {
		if r.UntilSeqNo <= r.FromSeqNo {
			continue
		}
		seq := r.UntilSeqNo - 1
		var offset string
		if o, ok := rdd.last.Load(r.PartitionID); ok {
			offset = o.(string)
		} else if b, ok := rdd.bounds[r.PartitionID]; ok && b.End == r.UntilSeqNo {
			offset = b.LastOffset
		}
		if offset == "" {
			continue
		}
		err := sh.store.SetCheckpoint(ctx, azeventhubs.Checkpoint{FullyQualifiedNamespace: sh.opts.Namespace, EventHubName: hub,
			ConsumerGroup: sh.s.conf.ConsumerGroup(), PartitionID: r.PartitionID, SequenceNumber: &seq, Offset: &offset}, nil)
		if err != nil {
			sh.s.conf.Logger().Warn("eventhubs: writing a checkpoint to the ownership store", "hub", hub, "partition", r.PartitionID, "err", err)
		}
	}
}

// stop stops the rounds and relinquishes every partition.
func (sh *sharing) stop() {
	changes, err := sh.rounds.close()
	for _, c := range changes {
		sh.note(c)
	}
	if err != nil {
		sh.note(balance.Change{Reason: err.Error()})
	}
}

func (sh *sharing) owner() string { return sh.opts.OwnerID }

// note logs an ownership change and tells OnChange.
func (sh *sharing) note(c balance.Change) {
	log, hub := sh.s.conf.Logger(), sh.s.conf.EventHubName()
	if c.PartitionID == "" { // a failure to relinquish
		log.Warn("eventhubs: "+c.Reason, "hub", hub, "owner", sh.opts.OwnerID)
		return
	}
	verb := "lost"
	if c.Gained {
		verb = "gained"
	}
	log.Info("eventhubs: partition "+verb, "hub", hub, "partition", c.PartitionID, "owner", sh.opts.OwnerID, "reason", c.Reason)
	if sh.opts.OnChange != nil {
		sh.opts.OnChange(c)
	}
}
