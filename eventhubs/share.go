package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/internal/parallel"
	"github.com/ehstream/ehstream/streaming"
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

// sharing is a stream's part in the ownership protocol.
type sharing struct {
	store azeventhubs.CheckpointStore
	opts  OwnershipOptions
	b     *balance.Balancer // used by the rounds' goroutine only, after Start

	mu      sync.Mutex
	ids     []string         // the hub's partitions, as the last plan saw them
	owned   []string         // as the last round left them
	changes []balance.Change // not yet taken in by a plan
	err     error            // the last round's, nil once one succeeds
	round   int              // rounds completed
	// taken holds partitions whose link another reader took, with the
	// round then: they are not read again before a later round says they
	// are still this replica's (the taker may not have claimed yet), or
	// the two would take the link from each other.
	taken map[string]int

	stop, done chan struct{}
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
func (s *DirectStream) SetOwnershipStore(store azeventhubs.CheckpointStore, opts *OwnershipOptions) error {
	if store == nil {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "SetOwnershipStore: the store is nil"}
	}
	o := OwnershipOptions{}
	if opts != nil {
		o = *opts
	}
	if o.OwnerID == "" {
		host, _ := os.Hostname()
		o.OwnerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Namespace == "" {
		cs, err := s.conf.ConnectionString()
		if err != nil {
			return err
		}
		o.Namespace = cs.Namespace()
	}
	b, err := balance.New(store, balance.Consumer{Namespace: o.Namespace, EventHub: s.conf.EventHubName(), ConsumerGroup: s.conf.ConsumerGroup()},
		o.OwnerID, &balance.Options{Strategy: o.Strategy, UpdateInterval: o.UpdateInterval, Expiration: o.Expiration})
	if err != nil {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "SetOwnershipStore", Err: err}
	}
	s.conf.replica = o.OwnerID
	s.share = &sharing{store: store, opts: o, b: b}
	return nil
}

// OwnerID is the replica's owner ID, "" for a stream that owns every
// partition.
func (s *DirectStream) OwnerID() string {
	if s.share == nil {
		return ""
	}
	return s.share.b.Owner()
}

// firstRound claims the stream's first partitions before it starts, then
// runs the rounds in the background: renewals must not wait for a long
// batch, or claims lapse while the stream works.
func (sh *sharing) firstRound(ctx context.Context, ids []string) error {
	sh.ids = ids
	changes, err := sh.b.Round(ctx, ids)
	if err != nil {
		return err
	}
	sh.owned, sh.changes = sh.b.Owned(), changes
	sh.stop, sh.done = make(chan struct{}), make(chan struct{})
	go sh.rounds()
	return nil
}

func (sh *sharing) rounds() {
	defer close(sh.done)
	every := sh.b.UpdateInterval()
	for {
		// Jitter, as the SDKs do, so that replicas started together do not
		// claim in lockstep.
		wait := every + time.Duration(rand.Int64N(int64(every)/5+1)) - every/10
		select {
		case <-sh.stop:
			return
		case <-time.After(wait):
		}
		sh.mu.Lock()
		ids := slices.Clone(sh.ids)
		sh.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		changes, err := sh.b.Round(ctx, ids)
		cancel()
		sh.mu.Lock()
		sh.err = err
		if err == nil {
			sh.round++
			sh.owned = sh.b.Owned()
			sh.changes = append(sh.changes, changes...)
		}
		sh.mu.Unlock()
	}
}

// close stops the rounds and relinquishes every partition.
func (sh *sharing) close(log func(balance.Change)) {
	if sh.stop == nil {
		return
	}
	close(sh.stop)
	<-sh.done
	sh.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	changes, err := sh.b.Relinquish(ctx)
	for _, c := range changes {
		log(c)
	}
	if err != nil {
		log(balance.Change{Reason: err.Error()})
	}
}

// positions is where newly owned partitions start: Positions, else the
// store's checkpoints (the last sequence number processed, plus one).
func (sh *sharing) positions(ctx context.Context, ns, hub, group string, ids []string) (map[string]int64, error) {
	if sh.opts.Positions != nil {
		return sh.opts.Positions(ctx, ids)
	}
	cps, err := sh.store.ListCheckpoints(ctx, ns, hub, group, nil)
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

var _ streaming.Input = (*DirectStream)(nil)

// startShared is Start for a stream sharing partitions: it claims its
// first partitions, starts them from their stored positions, and takes
// their links.
func (s *DirectStream) startShared(ctx context.Context, probe *client, hp *HubProperties) error {
	if err := checkGroup(ctx, s.conf, probe, hp); err != nil {
		return err
	}
	if err := s.share.firstRound(ctx, hp.PartitionIDs); err != nil {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "the first ownership round", Err: err}
	}
	owned, err := s.takeOwnership()
	if err != nil {
		return err
	}
	var parts []PartitionBounds
	for _, b := range hp.Partitions {
		if slices.Contains(owned, b.PartitionID) {
			parts = append(parts, b)
		}
	}
	if err := s.gain(ctx, &HubProperties{Name: hp.Name, PartitionIDs: hp.PartitionIDs, Partitions: parts}); err != nil {
		return err
	}
	if s.conf.exclusiveOr(true) {
		return s.c.hold(ctx, s.conf, parts, s.next)
	}
	return nil
}

// takeOwnership takes in the rounds' changes: it drops the partitions lost
// and returns those owned now.
func (s *DirectStream) takeOwnership() ([]string, error) {
	sh := s.share
	sh.mu.Lock()
	owned, changes, err := slices.Clone(sh.owned), sh.changes, sh.err
	sh.changes = nil
	for id, at := range sh.taken {
		if sh.round > at {
			delete(sh.taken, id)
		} else {
			owned = slices.DeleteFunc(owned, func(o string) bool { return o == id })
		}
	}
	sh.mu.Unlock()
	for _, c := range changes {
		s.noteChange(c)
		if !c.Gained {
			s.drop(c.PartitionID)
		}
	}
	for id := range s.next {
		if !slices.Contains(owned, id) {
			s.drop(id)
		}
	}
	var other *balance.OtherJobError
	if errors.As(err, &other) {
		// Another job's replicas claimed in this consumer group (two jobs
		// started together): each would write only some partitions.
		return nil, &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "an ownership round", Err: err}
	}
	if err != nil {
		// Claims outlive a few failed rounds; the positions' check keeps a
		// stale batch from committing meanwhile.
		s.conf.Logger().Warn("eventhubs: an ownership round failed; reading the partitions owned before", "hub", s.conf.EventHubName(), "err", err)
	}
	return owned, nil
}

// gain positions the partitions of hp the stream owns but has no position
// for: newly owned ones, and those whose batch was found stale.
func (s *DirectStream) gain(ctx context.Context, hp *HubProperties) error {
	s.share.mu.Lock()
	s.share.ids = slices.Clone(hp.PartitionIDs)
	s.share.mu.Unlock()
	var ids []string
	for _, b := range hp.Partitions {
		if _, ok := s.next[b.PartitionID]; !ok {
			ids = append(ids, b.PartitionID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	stored, err := s.share.positions(ctx, s.share.opts.Namespace, s.conf.EventHubName(), s.conf.ConsumerGroup(), ids)
	if err != nil {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "reading the positions of newly owned partitions: " + err.Error()}
	}
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

// drop forgets a partition's position and gives its link up.
func (s *DirectStream) drop(id string) {
	if _, ok := s.next[id]; !ok {
		return
	}
	delete(s.next, id)
	delete(s.resetFrom, id)
	s.c.closeReceiver(id)
}

// replan undoes the batch's plan after its range of partition id turned
// out stale: every partition starts the next batch where this one started,
// and id from its stored position, read anew, if the stream still owns it.
func (s *DirectStream) replan(b *streaming.Batch, id string, cause error) error {
	s.rewind(b)
	if HasCode(cause, CodeOwnershipLost) {
		s.share.markTaken(id)
	}
	s.drop(id)
	s.conf.Logger().Info("eventhubs: the batch's range of a partition is stale (another replica moved its position or took its reader); planning it again",
		"hub", s.conf.EventHubName(), "partition", id, "batch", b.Number, "cause", cause)
	return fmt.Errorf("%w: partition %s: %w", streaming.ErrReplan, id, cause)
}

// noteChange logs an ownership change and tells OnChange.
func (s *DirectStream) noteChange(c balance.Change) {
	if c.PartitionID == "" { // a failure to relinquish
		s.conf.Logger().Warn("eventhubs: "+c.Reason, "hub", s.conf.EventHubName(), "owner", s.share.b.Owner())
		return
	}
	verb := "lost"
	if c.Gained {
		verb = "gained"
	}
	s.conf.Logger().Info("eventhubs: partition "+verb, "hub", s.conf.EventHubName(), "partition", c.PartitionID, "owner", s.share.b.Owner(), "reason", c.Reason)
	if s.share.opts.OnChange != nil {
		s.share.opts.OnChange(c)
	}
}

// writeCheckpoints writes the store's checkpoints of the ranges that moved
// (WriteCheckpoints). They are for stock processors, which start after
// them; a failure leaves them behind, which costs those processors a
// re-read, so it is logged and the stream goes on.
//
// A checkpoint carries the last event's offset as well as its sequence
// number (the SDK's Blob store lists none without): the offset an output's
// read handed out, else the partition's last when the range ends there.
// Without either, as when no output read the events, none is written.
func (s *DirectStream) writeCheckpoints(ctx context.Context, rdd *RDD) {
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
		err := s.share.store.SetCheckpoint(ctx, azeventhubs.Checkpoint{FullyQualifiedNamespace: s.share.opts.Namespace, EventHubName: s.conf.EventHubName(),
			ConsumerGroup: s.conf.ConsumerGroup(), PartitionID: r.PartitionID, SequenceNumber: &seq, Offset: &offset}, nil)
		if err != nil {
			s.conf.Logger().Warn("eventhubs: writing a checkpoint to the ownership store", "hub", s.conf.EventHubName(), "partition", r.PartitionID, "err", err)
		}
	}
}

// holdShared checks the idle partitions' links, as a stream that owns
// every partition does, but a partition found taken is dropped from the
// plan rather than failing the stream: another replica took it, and the
// next round will say so.
func (s *DirectStream) holdShared(ctx context.Context, plan streaming.Plan, idle []PartitionBounds) (streaming.Plan, error) {
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
			"hub", s.conf.EventHubName(), "partition", id, "owner", s.share.b.Owner())
		s.share.markTaken(id)
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

func (sh *sharing) markTaken(id string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.taken == nil {
		sh.taken = map[string]int{}
	}
	sh.taken[id] = sh.round
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
