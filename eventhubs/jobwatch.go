package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/streaming/parallel"
)

// JobView is how the whole job stands, as one of its streams sees it:
// every partition of the hub, whichever stream reads it, its owner, the
// job's position, the hub's end and the age of its oldest unread event.
// DirectStream.WatchJob reads one every WatchOptions.Every.
type JobView struct {
	// At is when the view began to be read, by this process's clock.
	At  time.Time
	Hub string
	// OwnerID is this stream's owner ID among the replicas; "" for a
	// stream that reads every partition, whose partitions all have Owner
	// "" and Live true.
	OwnerID string
	// UpdateInterval and Expiration are the ownership protocol's
	// (OwnershipOptions); zero without an ownership store.
	UpdateInterval, Expiration time.Duration
	// Renewals and FailedRenewals count this replica's ownership rounds
	// since the stream started: those that renewed its claims, and those
	// that failed (each is logged at the stream's next batch).
	Renewals, FailedRenewals int64
	// Owners says the ownership records were read for this view: the
	// partitions' Owner, Live and Changed are theirs. It is false for a
	// stream that reads every partition, and when the listing failed (Err
	// says why), when they say nothing.
	Owners bool
	// Partitions holds every partition of the hub, in the hub's order;
	// none when the hub could not be read.
	Partitions []JobPartition
	// Err says what could not be read this time: the hub, the ownership
	// records, the positions. What was read is in Partitions.
	Err error
}

// JobPartition is one partition in a JobView.
type JobPartition struct {
	PartitionID string
	// Owner is the owner ID its ownership record names: "" when it names
	// none (never claimed, relinquished), and for a stream that reads
	// every partition.
	Owner string
	// Live says a stream reads the partition, as far as the records tell:
	// its owner renewed the claim within balance.LateAfter (1.5 update
	// intervals) when they were listed. Always true for a stream that
	// reads every partition.
	Live bool
	// Changed is when the ownership record was last written (claimed,
	// renewed, relinquished), on this process's clock; zero without one.
	Changed time.Time
	// Next is the job's position, the first sequence number not committed;
	// HasNext is false when the job has none yet.
	Next    int64
	HasNext bool
	// First and End are the partition's bounds: it held [First, End).
	First, End int64
	// OldestUnread is when the oldest event not committed was enqueued
	// (the one at Next, or the first still held when retention removed
	// it): zero when none is unread, or when it is unknown and UnreadErr
	// says why.
	OldestUnread time.Time
	UnreadErr    error
}

// WatchOptions holds WatchJob's optional settings; nil means defaults.
type WatchOptions struct {
	// Every is the time between views. 0 means a quarter of the ownership
	// update interval for a replica (2.5 s by default; at least 50 ms),
	// so that a replica that stopped renewing shows within an interval of
	// the renewal it missed; else 2.5 s.
	Every time.Duration
	// LagConsumerGroup is the consumer group each partition's oldest
	// unread event is read with: one event, without an owner level, only
	// when the partition's position moved since it was last read, and
	// only when the watch does not know it already (the stream's own read
	// handed it out, as a batch that starts at the job's position does, or
	// it is the partition's last event). "" means the stream's own, in
	// which the service refuses such reads of a partition a stream holds:
	// only partitions without a live owner are read, and the others'
	// OldestUnread is unknown while no batch of this stream is reading
	// from it. Another consumer group reads every partition (the events
	// are the same in all).
	LagConsumerGroup string
	// Positions reads the job's positions (the next sequence number to
	// read) of the given partitions, those it has. Nil means a replica's
	// (OwnershipOptions.Positions, else the store's checkpoints), else
	// SetStoredPositions', else the positions after the last batch whose
	// outputs returned.
	Positions func(ctx context.Context, partitionIDs []string) (map[string]int64, error)
}

// WatchJob makes the stream read how the whole job stands (JobView) when
// it starts and every WatchOptions.Every while it runs, and hand each view
// to fn, on a goroutine of its own, one call at a time. Call it before the
// context runs.
//
// A view costs the hub's properties and each partition's bounds (1 +
// partitions management calls, which open no receiver), one read of the
// positions, with an ownership store one listing of its records, and a
// receive of one event (a link opened and closed) for each partition
// whose position moved since the last view, that has more than one event
// unread, and whose oldest unread event the stream's own reads did not
// hand out.
func (s *DirectStream) WatchJob(fn func(JobView), opts *WatchOptions) error {
	if fn == nil {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "WatchJob: the function is nil"}
	}
	o := WatchOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Every < 0 {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: fmt.Sprintf("WatchJob: Every %s is negative", o.Every)}
	}
	lag := s.conf.Clone()
	if o.LagConsumerGroup != "" {
		lag.SetConsumerGroup(o.LagConsumerGroup)
	}
	s.watch = &jobWatch{s: s, fn: fn, opts: o, lag: lag, ownGroup: o.LagConsumerGroup == "", unread: map[string]unreadEvent{}, handed: map[string]unreadEvent{}}
	return nil
}

// jobWatch reads JobViews for WatchJob, from the stream's Start to its
// Stop, on a goroutine of its own.
type jobWatch struct {
	s        *DirectStream
	fn       func(JobView)
	opts     WatchOptions
	lag      *Conf // the stream's, with LagConsumerGroup
	ownGroup bool  // lag reads with the stream's own consumer group
	// unread caches the oldest unread event read of each partition: its
	// enqueued time stands while the position does. The watch's goroutine
	// owns it.
	unread map[string]unreadEvent
	// mu guards handed: the first event of each partition the stream's
	// reads handed out lately (noteRead), which the watch need not read.
	mu     sync.Mutex
	handed map[string]unreadEvent

	cancel context.CancelFunc
	done   chan struct{}
}

// unreadEvent is the enqueued time of one partition's event at seq.
type unreadEvent struct {
	seq      int64
	enqueued time.Time
}

// start runs the watch; nil does nothing.
func (w *jobWatch) start() {
	if w == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	every := w.every()
	go func() {
		defer close(w.done)
		for {
			v := w.read(ctx)
			if ctx.Err() != nil {
				return // stopped while reading: the view is cut short
			}
			w.fn(v)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
}

// stop ends the watch and waits for it; nil, or one never started, does
// nothing.
func (w *jobWatch) stop() {
	if w == nil || w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
	w.cancel = nil
}

// every is Every, or its default.
func (w *jobWatch) every() time.Duration {
	switch sh, ok := w.s.assign.(*sharing); {
	case w.opts.Every > 0:
		return w.opts.Every
	case ok:
		return max(sh.interval/4, 50*time.Millisecond)
	}
	return balance.DefaultUpdateInterval / 4
}

// read reads one view: the hub's bounds, the ownership records, the
// positions and the oldest unread events, in that order.
func (w *jobWatch) read(ctx context.Context) JobView {
	s := w.s
	v := JobView{At: time.Now(), Hub: s.conf.EventHubName(), OwnerID: s.assign.owner()}
	probe, hp, err := probeBounds(ctx, s.conf, nil)
	if err != nil {
		v.Err = fmt.Errorf("reading the hub's partitions: %w", err)
		return v
	}
	probe.release()
	for _, b := range hp.Partitions {
		v.Partitions = append(v.Partitions, JobPartition{PartitionID: b.PartitionID, First: b.First, End: b.End})
	}
	var errs []error
	sh, sharing := s.assign.(*sharing)
	for i := range v.Partitions {
		v.Partitions[i].Live = !sharing
	}
	if sharing {
		errs = append(errs, w.owners(ctx, sh, &v))
	}
	errs = append(errs, w.positions(ctx, &v))
	errs = append(errs, w.oldestUnread(ctx, &v, hp))
	v.Err = errors.Join(errs...)
	return v
}

// owners fills in who owns each partition, from one listing of the
// ownership records, judged by the store's clock.
func (w *jobWatch) owners(ctx context.Context, sh *sharing, v *JobView) error {
	offset, renewals, failures := sh.rounds.stats()
	v.UpdateInterval, v.Expiration, v.Renewals, v.FailedRenewals = sh.interval, sh.expiration, renewals, failures
	list, err := sh.store.ListOwnership(ctx, sh.opts.Namespace, w.s.conf.EventHubName(), w.s.conf.ConsumerGroup(), nil)
	if err != nil {
		return fmt.Errorf("listing the ownership records: %w", err)
	}
	v.Owners = true
	ids := make([]string, len(v.Partitions))
	for i, p := range v.Partitions {
		ids[i] = p.PartitionID
	}
	for i, c := range balance.Survey(list, ids, time.Now().Add(offset), sh.interval) {
		p := &v.Partitions[i]
		p.Owner, p.Live = c.Owner, c.Live
		if !c.Changed.IsZero() {
			p.Changed = c.Changed.Add(-offset)
		}
	}
	return nil
}

// positions fills in the job's position of each partition.
func (w *jobWatch) positions(ctx context.Context, v *JobView) error {
	ids := make([]string, len(v.Partitions))
	for i, p := range v.Partitions {
		ids[i] = p.PartitionID
	}
	ps, err := w.readPositions(ctx, ids)
	if err != nil {
		return fmt.Errorf("reading the job's positions: %w", err)
	}
	for i := range v.Partitions {
		p := &v.Partitions[i]
		p.Next, p.HasNext = ps[p.PartitionID]
	}
	return nil
}

func (w *jobWatch) readPositions(ctx context.Context, ids []string) (map[string]int64, error) {
	s := w.s
	sh, sharing := s.assign.(*sharing)
	switch {
	case w.opts.Positions != nil:
		return w.opts.Positions(ctx, ids)
	case sharing:
		return sh.positions(ctx, ids)
	case s.stored != nil:
		return s.stored(ctx, ids)
	}
	s.ranMu.Lock()
	defer s.ranMu.Unlock()
	return maps.Clone(s.ran), nil
}

// oldestUnread fills in the enqueued time of each partition's oldest
// unread event, when it is known without reading (known), else read, in
// parallel. Partitions a stream holds in the consumer group read with are
// not read: the service would refuse.
func (w *jobWatch) oldestUnread(ctx context.Context, v *JobView, hp *HubProperties) error {
	var ask []*JobPartition
	for i := range v.Partitions {
		p := &v.Partitions[i]
		if !p.HasNext || p.Next >= p.End {
			continue // nothing unread, or the hub's numbering restarted below it
		}
		seq := max(p.Next, p.First)
		if t, ok := w.known(hp.Partitions[i], seq); ok {
			p.OldestUnread = t
			continue
		}
		if w.ownGroup && p.Live {
			p.UnreadErr = &Error{Code: CodeOwnershipLost, Hub: v.Hub, PartitionID: p.PartitionID,
				Message: fmt.Sprintf("the stream that reads the partition holds it in consumer group %q, which keeps other readers out, and has not read event %d yet: read the lag with another consumer group (WatchOptions.LagConsumerGroup)", w.s.conf.ConsumerGroup(), seq)}
			continue
		}
		ask = append(ask, p)
	}
	if len(ask) == 0 {
		return nil
	}
	probe, err := defaultPool.probeFor(w.lag)
	if err != nil {
		return err
	}
	defer probe.release()
	var mu sync.Mutex
	return parallel.Each(len(ask), func(i int) error {
		p := ask[i]
		l := PartitionLag{PartitionID: p.PartitionID}
		seq := max(p.Next, p.First)
		if err := oldestUnread(ctx, w.lag, probe, &l, seq); err != nil {
			p.UnreadErr = err
			return nil // this partition's age stays unknown; the others' are read
		}
		p.OldestUnread, p.UnreadErr = l.OldestUnread, l.Err
		if l.Err == nil {
			mu.Lock()
			w.unread[p.PartitionID] = unreadEvent{seq: seq, enqueued: l.OldestUnread}
			mu.Unlock()
		}
		return nil
	})
}

// known is the enqueued time of partition b's event seq when the watch
// knows it without reading: read before, handed out by the stream's own
// read (a batch that began at the job's position), or the partition's last
// event, whose time its bounds carry.
func (w *jobWatch) known(b PartitionBounds, seq int64) (time.Time, bool) {
	id := b.PartitionID
	if e, ok := w.unread[id]; ok && e.seq == seq {
		return e.enqueued, true
	}
	w.mu.Lock()
	e, ok := w.handed[id]
	w.mu.Unlock()
	switch {
	case ok && e.seq == seq:
	case seq == b.End-1 && !b.LastEnqueued.IsZero():
		e = unreadEvent{seq: seq, enqueued: b.LastEnqueued}
	default:
		return time.Time{}, false
	}
	w.unread[id] = e
	return e.enqueued, true
}

// noteRead hears the first event a read of the stream handed out of a
// partition's range (RDD.onFirst).
func (w *jobWatch) noteRead(partitionID string, seq int64, enqueued time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handed[partitionID] = unreadEvent{seq: seq, enqueued: enqueued}
}

// publish records where the stream's partitions stand after a batch whose
// outputs returned, or when it starts, for a watch without stored
// positions.
func (s *DirectStream) publish(next map[string]int64) {
	if s.watch == nil {
		return
	}
	s.ranMu.Lock()
	defer s.ranMu.Unlock()
	if s.ran == nil {
		s.ran = map[string]int64{}
	}
	maps.Copy(s.ran, next)
}
