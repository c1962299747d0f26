package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ehstream/ehstream/streaming"
)

// assignment is which of the hub's partitions a direct stream reads, and
// how it comes by them and gives them up: every partition
// (allPartitions), or the share of one replica among several that divide
// them through an ownership store (sharing, share.go). The stream keeps
// where each partition stands (DirectStream.next); an assignment decides
// where a partition it takes on starts, and what a stale range means.
// Its methods run on the stream's goroutine, in the order the Context
// calls the stream: claim, start, then per batch partitions, place,
// holdIdle, and stale or ran; stop at the end.
type assignment interface {
	// claim takes the partitions before the stream's checkpoint is loaded
	// (streaming.Claimer).
	claim(ctx context.Context) error
	// start sets where the first batch reads each partition the stream
	// takes on, and takes their links. resume is a checkpoint's positions.
	start(ctx context.Context, resume map[string]int64) error
	// partitions is what the next batch reads, nil for every partition of
	// the hub, having given up those the stream no longer has.
	partitions() ([]string, error)
	// place sets where the partitions of hp that have no position start:
	// those the hub added, or the stream took on, since the last batch.
	place(ctx context.Context, hp *HubProperties) error
	// holdIdle checks the links of the plan's idle partitions (hold) and
	// returns the plan to run.
	holdIdle(ctx context.Context, plan streaming.Plan, idle []PartitionBounds) (streaming.Plan, error)
	// stale is what an output's error err fails batch b with: a replan
	// (streaming.ErrReplan) when it says one of b's ranges is stale, else
	// err.
	stale(ctx context.Context, b *streaming.Batch, err error) error
	// ran hears of a batch whose outputs all returned nil.
	ran(ctx context.Context, rdd *RDD)
	// stop gives the partitions up.
	stop()
	// owner is the replica's owner ID, "" when the stream reads every
	// partition.
	owner() string
}

// allPartitions is the assignment of a stream that reads every partition
// of the hub: it takes them all exclusively (unless the conf says
// otherwise), starts them from a checkpoint or the conf's positions, and
// fails on a partition another reader took.
type allPartitions struct{ s *DirectStream }

func (a *allPartitions) claim(ctx context.Context) error {
	s := a.s
	if !s.conf.exclusiveOr(true) {
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

func (a *allPartitions) start(ctx context.Context, resume map[string]int64) error {
	s := a.s
	probe, hp, err := s.probeHub(ctx)
	if err != nil {
		return err
	}
	defer probe.release()
	for id := range resume {
		if !slices.Contains(hp.PartitionIDs, id) {
			return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), PartitionID: id,
				Message: fmt.Sprintf("the checkpoint has partition %q, which the hub does not (it has %v)", id, hp.PartitionIDs)}
		}
	}
	if err := checkGroup(ctx, s.conf, probe, hp); err != nil {
		return err
	}
	if err := a.startPositions(ctx, probe, hp, resume); err != nil {
		return err
	}
	if !s.checkpointed.IsZero() && !s.checkpointed.Equal(s.created) {
		// The checkpoint's positions are of a hub deleted and created
		// again while the stream was down, which may hold events past them.
		if err := s.restarted(s.checkpointed, "while the stream was down", slices.Collect(maps.Keys(resume))); err != nil {
			return err
		}
	}
	if !s.conf.exclusiveOr(true) {
		return nil
	}
	// Take the partitions now, idle ones included, so that an older
	// instance of the job stops at its next batch rather than at its next
	// event. Not where the position lies outside the partition (data
	// loss): the first batch decides about those.
	var parts []PartitionBounds
	for _, b := range hp.Partitions {
		if n := s.next[b.PartitionID]; n >= b.First && n <= b.End {
			parts = append(parts, b)
		}
	}
	return s.c.hold(ctx, s.conf, parts, s.next)
}

// startPositions sets where each partition of hp starts: resume's
// position, else the one StartingPositions names, else, for a stream that
// resumes, its first event, else StartingPosition.
func (a *allPartitions) startPositions(ctx context.Context, probe *client, hp *HubProperties, resume map[string]int64) error {
	s := a.s
	named := s.conf.StartingPositions()
	if len(resume) == 0 && s.stored != nil {
		var err error
		if resume, err = a.storedStart(ctx, hp, len(named) == 0); err != nil {
			return err
		}
	}
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
	return s.resolveStarts(ctx, probe, asked)
}

// storedStart is where the job's positions are stored
// (SetStoredPositions), for a stream with no checkpoint to resume from: a
// first start, or a checkpoint deleted. Starting from StartingPosition
// instead would read again what the job committed, which its output
// refuses as a repeated batch at every restart. tell says so in the log,
// where the conf names no positions of its own (offsets.Store.Resume's).
func (a *allPartitions) storedStart(ctx context.Context, hp *HubProperties, tell bool) (map[string]int64, error) {
	s := a.s
	stored, err := s.stored(ctx, hp.PartitionIDs)
	if err != nil {
		return nil, fmt.Errorf("eventhubs: reading the job's stored positions to start from: %w", err)
	}
	if len(stored) > 0 && tell {
		s.conf.Logger().Warn("eventhubs: no checkpoint to resume from (a first start, or the checkpoint was deleted), but the job's positions are stored: starting from them",
			"hub", s.conf.EventHubName(), "positions", stored)
	}
	return stored, nil
}

func (a *allPartitions) partitions() ([]string, error) { return nil, nil }

// place starts a partition the hub added while the stream runs where
// StartingPositions names, else at the start of the stream.
func (a *allPartitions) place(ctx context.Context, hp *HubProperties) error {
	s := a.s
	for _, b := range hp.Partitions {
		id := b.PartitionID
		if _, ok := s.next[id]; ok {
			continue
		}
		p, ok := s.conf.StartingPositions()[id]
		if !ok {
			s.conf.Logger().Info("eventhubs: the hub has a new partition: reading it from the start of the stream",
				"hub", s.conf.EventHubName(), "partition", id, "from", b.First)
			s.next[id] = b.First
			continue
		}
		seq, err := a.resolveNew(ctx, id, p, b)
		if err != nil {
			return err
		}
		s.next[id] = seq
	}
	return nil
}

// resolveNew resolves the starting position p of a partition the hub
// added.
func (a *allPartitions) resolveNew(ctx context.Context, id string, p EventPosition, b PartitionBounds) (int64, error) {
	probe, err := defaultPool.probeFor(a.s.conf)
	if err != nil {
		return 0, err
	}
	defer probe.release()
	a.s.releaseForLookups([]resolving{{id: id, p: p}})
	return resolveAs(ctx, a.s.conf, probe, startingPosition, id, p, b)
}

// holdIdle fails the batch when another reader took an idle partition:
// the stream is meant to be its partitions' one reader.
func (a *allPartitions) holdIdle(ctx context.Context, plan streaming.Plan, idle []PartitionBounds) (streaming.Plan, error) {
	if err := a.s.c.hold(ctx, a.s.conf, idle, a.s.next); err != nil {
		return streaming.Plan{}, err
	}
	return plan, nil
}

// stale plans the batch again when an output found a range stale and the
// stream knows where positions are stored (SetStoredPositions): the stale
// partition continues from its stored position, read now.
func (a *allPartitions) stale(ctx context.Context, b *streaming.Batch, err error) error {
	var st StaleRange
	if a.s.stored == nil || !errors.As(err, &st) {
		return err
	}
	s, id, cause := a.s, st.StalePartition(), err
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

func (a *allPartitions) ran(context.Context, *RDD) {}

func (a *allPartitions) stop() {}

func (a *allPartitions) owner() string { return "" }

var (
	_ assignment = (*allPartitions)(nil)
	_ assignment = (*sharing)(nil)
)
