package offsets

import (
	"context"
	"fmt"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
)

// Lag is how far the job's stored positions are behind its hub, for every
// partition of the hub: the events not yet committed, and the enqueued
// time of the oldest of them (eventhubs.Lag). A partition without a
// stored position is one the hub added since the job last committed, and
// counts from its first event, as the job reads it.
//
// conf reaches the job's hub. Its consumer group is the one the oldest
// unread events are read with, without an owner level, so that reading
// never disturbs the job: while the job runs it holds its own consumer
// group's partitions, so give conf another consumer group to see its time
// lag (the events and their times are the same in every group). In the
// job's own group, a running job leaves each PartitionLag's OldestUnread
// unknown, with Err saying why.
//
// A job without stored positions is an error: it has not committed a
// batch, and where it will start is its starting position's to say.
func (s *Store) Lag(ctx context.Context, job Job, conf *eventhubs.Conf) ([]eventhubs.PartitionLag, error) {
	job = job.canonical()
	if err := job.validate(); err != nil {
		return nil, err
	}
	host, err := conf.NamespaceHost()
	if err != nil {
		return nil, err
	}
	// Event Hubs ignores the case of both names.
	if !strings.EqualFold(host, job.Namespace) || !strings.EqualFold(conf.EventHubName(), job.EventHub) {
		return nil, fmt.Errorf("offsets: %s: the conf reads hub %s of namespace %s, not the job's", job, conf.EventHubName(), host)
	}
	ps, err := s.Positions(ctx, job)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("offsets: %s has no stored positions in table %s: it has not committed a batch (check the job's name and consumer group)", job, s.table)
	}
	next := make(map[string]int64, len(ps))
	for _, p := range ps {
		next[p.Partition] = p.Next
	}
	return eventhubs.Lag(ctx, conf, next)
}

// JobLag is the lag of one job's positions (PositionsLag).
type JobLag struct {
	Job Job // without its Output
	// Partitions is the lag of each partition of the hub, as Lag has it.
	Partitions []eventhubs.PartitionLag
	// Err, when not nil, is why the job has no lag: a position of a
	// partition the hub does not have (it was created again with fewer),
	// an *eventhubs.Error of code CodeInvalidRange.
	Err error
}

// PositionsLag is Lag for positions listed rather than stored: for every
// job with positions among ps of conf's namespace and hub, whatever its
// consumer group (a hub's bounds are the same in all), in the order
// listed. It reads the oldest unread events with readGroup, or with ""
// each job's own consumer group, which a running job holds.
func PositionsLag(ctx context.Context, conf *eventhubs.Conf, ps []Position, readGroup string) ([]JobLag, error) {
	host, err := conf.NamespaceHost()
	if err != nil {
		return nil, err
	}
	var jobs []Job // in the order listed
	next := map[Job]map[string]int64{}
	for _, p := range ps {
		job := p.Job
		job.Output = "" // not part of a job's identity in the store
		// Host names and hub names are case-insensitive in Event Hubs.
		if !strings.EqualFold(job.Namespace, host) || !strings.EqualFold(job.EventHub, conf.EventHubName()) {
			continue
		}
		if next[job] == nil {
			jobs, next[job] = append(jobs, job), map[string]int64{}
		}
		next[job][p.Partition] = p.Next
	}
	lags := make([]JobLag, 0, len(jobs))
	for _, job := range jobs {
		group := readGroup
		if group == "" {
			group = job.ConsumerGroup
		}
		jl := JobLag{Job: job}
		jl.Partitions, err = eventhubs.Lag(ctx, conf.Clone().SetConsumerGroup(group), next[job])
		if eventhubs.HasCode(err, eventhubs.CodeInvalidRange) {
			jl.Partitions, jl.Err = nil, err
		} else if err != nil {
			return nil, err
		}
		lags = append(lags, jl)
	}
	return lags, nil
}

// Unknown is the partitions of jl whose oldest unread event could not be
// read (a PartitionLag with an Err), and the last of their errors; nil
// when every one was read.
func (jl JobLag) Unknown() (ids []string, why error) {
	for _, l := range jl.Partitions {
		if l.Err != nil {
			ids, why = append(ids, l.PartitionID), l.Err
		}
	}
	return ids, why
}

// Lags is the lag of positions by job and partition (IndexLags), to look
// up a listed position's.
type Lags struct {
	byPartition map[lagKey]eventhubs.PartitionLag
}

// lagKey is a job, without its Output, and a partition.
type lagKey struct {
	job       Job
	partition string
}

// IndexLags indexes the partitions' lags of jls, as PositionsLag returns
// them; a job without lag (its Err) has none.
func IndexLags(jls []JobLag) *Lags {
	l := &Lags{byPartition: map[lagKey]eventhubs.PartitionLag{}}
	for _, jl := range jls {
		for _, pl := range jl.Partitions {
			l.byPartition[lagKey{job: jl.Job, partition: pl.PartitionID}] = pl
		}
	}
	return l
}

// Of is the lag of p's partition for p's job, whatever its Output; false
// when there is none (a job of another hub, or without lag), or l is nil.
func (l *Lags) Of(p Position) (eventhubs.PartitionLag, bool) {
	if l == nil {
		return eventhubs.PartitionLag{}, false
	}
	job := p.Job
	job.Output = "" // not part of a job's identity in the store
	pl, ok := l.byPartition[lagKey{job: job, partition: p.Partition}]
	return pl, ok
}

// Len is how many partitions have a lag; 0 for a nil l.
func (l *Lags) Len() int {
	if l == nil {
		return 0
	}
	return len(l.byPartition)
}
