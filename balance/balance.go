package balance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// Strategy is how a round claims partitions while the owner has fewer than
// its share.
type Strategy string

const (
	// Balanced claims free partitions (never owned, relinquished on a
	// clean stop, expired after a crash) up to its share in one round, and
	// takes from owners above their share one partition per round; the
	// SDKs' default. Unlike the SDKs' balanced strategy, which claims one
	// partition per round whatever is free, an owner that holds nothing
	// claims one, waits Options.JoinWindow for replicas starting with it,
	// and then claims its share of the rest (see the package doc).
	Balanced Strategy = "balanced"
	// Greedy claims the whole share in one round.
	Greedy Strategy = "greedy"
)

// The SDKs' defaults.
const (
	DefaultUpdateInterval = 10 * time.Second
	DefaultExpiration     = time.Minute
)

// Options holds New's optional settings; nil means defaults.
type Options struct {
	Strategy Strategy // "" means Balanced
	// UpdateInterval is how often the caller runs a round; a round renews
	// the owner's claims. 0 means DefaultUpdateInterval.
	UpdateInterval time.Duration
	// Expiration is how long a claim holds without renewal. 0 means
	// DefaultExpiration. It must exceed UpdateInterval.
	Expiration time.Duration
	// JoinWindow is how long a Balanced owner that holds no partition,
	// having claimed its first free one, waits for replicas starting with
	// it to claim theirs before it claims the rest of its share: replicas
	// started further apart than this settle by taking partitions from
	// each other, one per round. 0 means UpdateInterval/2; it must be
	// shorter than UpdateInterval.
	JoinWindow time.Duration
}

// Consumer is whose partitions are shared: the namespace as the SDKs name
// it (the endpoint's host, with its port if any), hub and consumer group.
type Consumer struct {
	Namespace     string
	EventHub      string
	ConsumerGroup string
}

// Change is a partition gained or lost in a round.
type Change struct {
	PartitionID string
	Gained      bool
	Reason      string // why, for logs: "unowned", "taken by replica-2", ...
}

func (c Change) String() string {
	verb := "lost"
	if c.Gained {
		verb = "gained"
	}
	return fmt.Sprintf("partition %s %s (%s)", c.PartitionID, verb, c.Reason)
}

// Balancer runs one owner's rounds. It is not safe for concurrent use.
type Balancer struct {
	store    azeventhubs.CheckpointStore
	consumer Consumer
	owner    string
	opts     Options
	rnd      *rand.Rand
	owned    map[string]azeventhubs.Ownership // the records as last claimed
	now      func() time.Time                 // this replica's clock
	// wait is how a joining round waits the join window (sleep); tests
	// make it wait until the other replicas claimed.
	wait func(ctx context.Context, d time.Duration) error
	// offset is the store's clock minus this replica's (clock.go);
	// fromClaims says the last claims measured it.
	offset     time.Duration
	fromClaims bool
}

// New returns the balancer of ownerID, which must be unique among the
// consumer's replicas and stable across a replica's rounds.
func New(store azeventhubs.CheckpointStore, consumer Consumer, ownerID string, opts *Options) (*Balancer, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Strategy == "" {
		o.Strategy = Balanced
	}
	if o.UpdateInterval == 0 {
		o.UpdateInterval = DefaultUpdateInterval
	}
	if o.Expiration == 0 {
		o.Expiration = DefaultExpiration
	}
	if o.JoinWindow == 0 {
		o.JoinWindow = o.UpdateInterval / 2
	}
	switch {
	case store == nil:
		return nil, errors.New("balance: no checkpoint store")
	case strings.TrimSpace(ownerID) == "":
		return nil, errors.New("balance: the owner ID is empty; give each replica its own (hostname-pid, a pod name)")
	case o.Strategy != Balanced && o.Strategy != Greedy:
		return nil, fmt.Errorf("balance: strategy %q: want %q or %q", o.Strategy, Balanced, Greedy)
	case o.UpdateInterval < 0:
		return nil, fmt.Errorf("balance: update interval %s: must be positive", o.UpdateInterval)
	case o.JoinWindow < 0 || o.JoinWindow >= o.UpdateInterval:
		return nil, fmt.Errorf("balance: join window %s: must be positive and shorter than the update interval %s, or a starting owner's round outlasts the interval", o.JoinWindow, o.UpdateInterval)
	case o.Expiration <= o.UpdateInterval:
		return nil, fmt.Errorf("balance: expiration %s: must exceed the update interval %s, or claims lapse between renewals", o.Expiration, o.UpdateInterval)
	case consumer.Namespace == "" || consumer.EventHub == "" || consumer.ConsumerGroup == "":
		return nil, fmt.Errorf("balance: consumer %+v: namespace, event hub and consumer group are all needed", consumer)
	}
	return &Balancer{store: store, consumer: consumer, owner: ownerID, opts: o,
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), owned: map[string]azeventhubs.Ownership{}, now: time.Now, wait: sleep}, nil
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Owner is the balancer's owner ID.
func (b *Balancer) Owner() string { return b.owner }

// UpdateInterval is how often rounds are due.
func (b *Balancer) UpdateInterval() time.Duration { return b.opts.UpdateInterval }

// Expiration is how long a claim holds without renewal.
func (b *Balancer) Expiration() time.Duration { return b.opts.Expiration }

// Owned is the partitions the last round claimed, sorted.
func (b *Balancer) Owned() []string {
	ids := make([]string, 0, len(b.owned))
	for id := range b.owned {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Owns reports whether the last round claimed the partition.
func (b *Balancer) Owns(id string) bool { _, ok := b.owned[id]; return ok }
