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
	cs, err := conf.ConnectionString()
	if err != nil {
		return nil, err
	}
	// Event Hubs ignores the case of both names.
	if !strings.EqualFold(cs.Hostname(), job.Namespace) || !strings.EqualFold(conf.EventHubName(), job.EventHub) {
		return nil, fmt.Errorf("offsets: %s: the conf reads hub %s of namespace %s, not the job's", job, conf.EventHubName(), cs.Hostname())
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
