package monitor

import (
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// partState is what the monitor knows of one partition: the record it
// serves, and when each part of it was learnt, so that a batch and a view
// of the whole job, which arrive in any order, leave the later word.
type partState struct {
	Partition
	known         bool      // a batch or a view gave Next and End: its gauges are served
	ownerKnown    bool      // a view read its ownership record: Live is the records' word
	nextAt, endAt time.Time // when Next and End were read
	// oldestUnread is the enqueued time of the event at unreadSeq, the
	// oldest unread when a view read it; zero when unknown.
	oldestUnread time.Time
	unreadSeq    int64
	renewed      time.Time // when the claim was last written
	noOwnerSince time.Time // while Live is false
}

// jobViewed is what the monitor keeps of the last view of the whole job
// beyond the partitions.
type jobViewed struct {
	at                       time.Time
	err                      error
	shared                   bool // replicas share the partitions
	interval, expiration     time.Duration
	renewals, failedRenewals int64
	ownersRead               bool // the view's owners are the records'; else the last ones known stand
}

// JobObserved takes in a view of the whole job (give it to
// eventhubs.DirectStream.WatchJob): every partition of the hub, whichever
// replica reads it, with its owner, the job's position, the hub's end and
// the age of its oldest unread event. The page, /api/partitions and
// /metrics then show all of them, and a partition's gauges stay when
// another replica takes it: every replica serves the whole job.
func (m *Monitor) JobObserved(v eventhubs.JobView) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.view = &jobViewed{at: v.At, err: v.Err, shared: v.UpdateInterval > 0, interval: v.UpdateInterval, expiration: v.Expiration,
		renewals: v.Renewals, failedRenewals: v.FailedRenewals, ownersRead: v.Owners}
	for _, jp := range v.Partitions {
		p := m.part(partKey{v.Hub, jp.PartitionID})
		m.viewed(p, jp, v.At)
	}
}

// viewed takes in partition jp of a view begun at at.
func (m *Monitor) viewed(p *partState, jp eventhubs.JobPartition, at time.Time) {
	if !m.view.shared {
		p.Live = true
	} else if m.view.ownersRead {
		p.Owner, p.Live, p.renewed, p.ownerKnown = jp.Owner, jp.Live, jp.Changed, true
		switch {
		case jp.Live:
			p.noOwnerSince = time.Time{}
		case !jp.Changed.IsZero():
			p.noOwnerSince = jp.Changed // the last renewal, or the relinquishment
		case p.noOwnerSince.IsZero():
			p.noOwnerSince = at // never claimed: since the monitor saw it so
		}
	}
	if jp.HasNext && !at.Before(p.nextAt) {
		p.Next, p.nextAt, p.known = jp.Next, at, true
	}
	if !at.Before(p.endAt) {
		p.End, p.endAt = jp.End, at
	}
	p.Lag = p.End - p.Next
	if jp.HasNext {
		p.unreadSeq, p.oldestUnread, p.UnreadError = max(jp.Next, jp.First), jp.OldestUnread, ""
		if jp.UnreadErr != nil {
			p.UnreadError = jp.UnreadErr.Error()
		}
	}
}

// served is the partition as served at now.
func (p *partState) served(now time.Time) Partition {
	out := p.Partition
	out.Renewed, out.NoOwnerSince, out.OldestUnread = timeOrNil(p.renewed), timeOrNil(p.noOwnerSince), timeOrNil(p.oldestUnread)
	if age, ok := p.lagSeconds(now); ok {
		out.LagSeconds = &age
	}
	return out
}

// lagSeconds is the age of the oldest unread event at now: 0 when none is
// unread; ok is false when it is unknown. The age read by the last view
// stands until the next, even when a batch moved the position since: the
// oldest unread event is then younger, by at most the time between views.
func (p *partState) lagSeconds(now time.Time) (float64, bool) {
	switch {
	case !p.known:
		return 0, false
	case p.Lag <= 0:
		return 0, true
	case p.oldestUnread.IsZero():
		return 0, false
	}
	return max(now.Sub(p.oldestUnread).Seconds(), 0), true
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// jobStatus is the whole job as the last view showed it, at now; nil
// without a view.
func (m *Monitor) jobStatus(now time.Time) *JobStatus {
	v := m.view
	if v == nil {
		return nil
	}
	js := &JobStatus{Viewed: v.at, Shared: v.shared, UpdateIntervalSeconds: v.interval.Seconds(), ExpirationSeconds: v.expiration.Seconds(),
		Renewals: v.renewals, FailedRenewals: v.failedRenewals}
	if v.err != nil {
		js.Error = v.err.Error()
	}
	if !v.shared {
		return js
	}
	for _, p := range m.sorted() {
		if p.Live || !p.ownerKnown {
			continue
		}
		js.Unowned++
		if now.Sub(p.noOwnerSince) > v.expiration {
			js.Orphaned = append(js.Orphaned, p.Partition.Partition)
		}
	}
	return js
}
