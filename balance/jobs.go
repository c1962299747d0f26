package balance

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Ownership records belong to a consumer group, so two jobs whose
// replicas share one group's records balance its partitions between them
// as if they were replicas of one job: each job's output then gets only
// some partitions, and nothing fails. A store that records which job made
// each claim (JobStore) lets a round refuse that.

// JobStore is implemented by a store whose claims record the job they
// were made for (package ownership's SQL store).
type JobStore interface {
	// Job is the job this store claims for; "" when it records none.
	Job() string
	// OwnershipJobs returns the job each record of the consumer group
	// was claimed for, by partition ID; "" where a record says none.
	OwnershipJobs(ctx context.Context, namespace, eventHub, consumerGroup string) (map[string]string, error)
}

// OtherJobError is a round refused because live claims of the consumer
// group belong to another job.
type OtherJobError struct {
	Consumer Consumer
	Job      string   // this balancer's job
	Other    string   // the job holding the claims
	Owners   []string // the other job's replicas (owner IDs)
}

func (e *OtherJobError) Error() string {
	return fmt.Sprintf("balance: consumer group %s of hub %s is in use by job %q (replicas %s): two jobs sharing one consumer group would split its partitions, "+
		"each writing only some of them; give job %q a consumer group of its own (consumer groups are views of the whole hub), or run it as a replica of job %q",
		e.Consumer.ConsumerGroup, e.Consumer.EventHub, e.Other, strings.Join(e.Owners, ", "), e.Job, e.Other)
}

// CheckJob returns an *OtherJobError when live claims of the owner's
// consumer group belong to another job than the store's, without claiming
// anything: a program checks it before it stores anything for the job,
// since the first Round refuses only once the program runs. Nil when none
// do, or when the store records no jobs.
func (b *Balancer) CheckJob(ctx context.Context) error {
	if _, ok := b.store.(JobStore); !ok {
		return nil
	}
	b.readClock(ctx)
	list, err := b.list(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, o := range list {
		ids = append(ids, o.PartitionID)
	}
	return b.otherJob(ctx, b.classify(list, ids))
}

// otherJob returns an *OtherJobError when live claims in v belong to
// another job than the store's, nil when none do or the store records no
// jobs.
func (b *Balancer) otherJob(ctx context.Context, v view) error {
	js, ok := b.store.(JobStore)
	if !ok || js.Job() == "" {
		return nil
	}
	jobs, err := js.OwnershipJobs(ctx, b.consumer.Namespace, b.consumer.EventHub, b.consumer.ConsumerGroup)
	if err != nil {
		return fmt.Errorf("balance: reading the jobs of the ownership records: %w", err)
	}
	var e *OtherJobError
	for owner, claims := range v.byOwner {
		for _, o := range claims {
			job := jobs[o.PartitionID]
			if job == "" || strings.EqualFold(job, js.Job()) {
				continue
			}
			if e == nil {
				e = &OtherJobError{Consumer: b.consumer, Job: js.Job(), Other: job}
			}
			if job == e.Other && !slices.Contains(e.Owners, owner) {
				e.Owners = append(e.Owners, owner)
			}
		}
	}
	if e == nil {
		return nil
	}
	slices.Sort(e.Owners)
	return e
}
