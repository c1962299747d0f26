package balance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// view is a round's reading of the ownership records.
type view struct {
	mine      []azeventhubs.Ownership            // this owner's live claims
	available []azeventhubs.Ownership            // unowned, relinquished or expired
	byOwner   map[string][]azeventhubs.Ownership // live claims per owner, this one included
	records   map[string]azeventhubs.Ownership   // per partition, as listed
}

func (b *Balancer) read(ctx context.Context, partitionIDs []string) (view, error) {
	list, err := b.list(ctx)
	if err != nil {
		return view{}, err
	}
	return b.classify(list, partitionIDs), nil
}

func (b *Balancer) list(ctx context.Context) ([]azeventhubs.Ownership, error) {
	list, err := b.store.ListOwnership(ctx, b.consumer.Namespace, b.consumer.EventHub, b.consumer.ConsumerGroup, nil)
	if err != nil {
		return nil, fmt.Errorf("balance: listing ownership: %w", err)
	}
	return list, nil
}

// classify sorts the records of partitionIDs in list into a round's view.
func (b *Balancer) classify(list []azeventhubs.Ownership, partitionIDs []string) view {
	v := view{byOwner: map[string][]azeventhubs.Ownership{b.owner: nil}, records: map[string]azeventhubs.Ownership{}}
	for _, o := range list {
		if slices.Contains(partitionIDs, o.PartitionID) {
			v.records[o.PartitionID] = o
		}
	}
	for _, id := range partitionIDs {
		o, ok := v.records[id]
		switch {
		case !ok:
			v.available = append(v.available, azeventhubs.Ownership{FullyQualifiedNamespace: b.consumer.Namespace,
				EventHubName: b.consumer.EventHub, ConsumerGroup: b.consumer.ConsumerGroup, PartitionID: id})
		case o.OwnerID == "" || b.expired(o):
			v.available = append(v.available, o)
		default:
			v.byOwner[o.OwnerID] = append(v.byOwner[o.OwnerID], o)
		}
	}
	v.mine = v.byOwner[b.owner]
	return v
}

// Round is one round of the protocol, due every UpdateInterval: it renews
// this owner's claims and, while the owner has fewer than its share of the
// partitions (their number over the live owners', the remainder going to
// owners that have their share), claims more as the strategy says, taking
// from owners above their share when nothing is free. It returns what
// changed since the previous round.
//
// A Balanced round of an owner that holds nothing while partitions are
// free claims one, waits the JoinWindow and reads the records again
// before it claims the rest of its share (join).
//
// A round refuses (*OtherJobError), claiming nothing, when live claims of
// the consumer group belong to another job (JobStore).
func (b *Balancer) Round(ctx context.Context, partitionIDs []string) ([]Change, error) {
	b.readClock(ctx)
	first, err := b.read(ctx, partitionIDs)
	if err != nil {
		return nil, err
	}
	if err := b.otherJob(ctx, first); err != nil {
		return nil, err
	}
	v := first
	if b.opts.Strategy == Balanced && len(first.mine) == 0 && len(first.available) > 0 {
		if v, err = b.join(ctx, first, partitionIDs); err != nil {
			return nil, err
		}
	}
	claims := b.choose(v, len(partitionIDs))
	for i := range claims {
		claims[i].OwnerID = b.owner
	}
	var got []azeventhubs.Ownership
	if len(claims) > 0 {
		if got, err = b.claim(ctx, claims); err != nil {
			return nil, err
		}
	}
	// The changes are against the records as the round first found them:
	// a partition claimed while joining was not this owner's before.
	return b.settle(got, first), nil
}

// claim makes claims and measures the store's clock by them.
func (b *Balancer) claim(ctx context.Context, claims []azeventhubs.Ownership) ([]azeventhubs.Ownership, error) {
	before := b.now()
	got, err := b.store.ClaimOwnership(ctx, claims, nil)
	if err != nil {
		return nil, fmt.Errorf("balance: claiming ownership: %w", err)
	}
	b.claimed(got, before, b.now())
	return got, nil
}

// choose is what a round claims of v's partitions, n of them: this
// owner's live claims, to renew them, and more as the strategy says.
func (b *Balancer) choose(v view, n int) []azeventhubs.Ownership {
	owners := len(v.byOwner)
	share := n / owners
	extra := n%owners > 0
	limit := share
	if extra && len(v.mine) >= share {
		limit++
	}
	var above []azeventhubs.Ownership
	for owner, claims := range v.byOwner {
		if owner != b.owner && len(claims) > limit {
			above = append(above, claims...)
		}
	}
	want := len(v.mine) < limit
	if extra && len(v.mine) == limit-1 && len(v.mine) >= share {
		want = len(v.available) > 0 || len(above) > 0
	}
	claims := slices.Clone(v.mine)
	switch {
	case !want:
	case b.opts.Strategy == Greedy:
		claims = append(claims, b.pick(v.available, limit-len(claims))...)
		claims = append(claims, b.pick(above, limit-len(claims))...)
	case len(v.available) > 0:
		// Free partitions (never owned, relinquished, expired) are taken
		// up to the share at once, so that a start, a stop or a crash is
		// settled within a round or two.
		claims = append(claims, b.planned(v, n)...)
	default:
		// One partition per round from a live owner, as the SDKs take
		// them, so that a replica joining a running job takes its share
		// gradually and each owner gives up a partition at a time.
		claims = append(claims, b.pick(above, 1)...)
	}
	return claims
}

// planned is this owner's part of v's free partitions when every live
// owner fills up to its fair share from them: the owners in order of
// owner ID, the first n%owners of them with a share of one more, each
// taking the next free partitions in order of partition ID. Every replica
// that read the same records makes the same plan, so that replicas
// claiming at the same moment claim different partitions, and all of the
// free ones between them. The plan also holds while some of them have
// claimed their parts already (the order is not by how many each holds):
// a replica that reads the records after another's claims takes the same
// partitions as one that read them before.
func (b *Balancer) planned(v view, n int) []azeventhubs.Ownership {
	owners := slices.Sorted(maps.Keys(v.byOwner))
	free := slices.SortedFunc(slices.Values(v.available), func(x, y azeventhubs.Ownership) int {
		return strings.Compare(x.PartitionID, y.PartitionID)
	})
	share, rem := n/len(owners), n%len(owners)
	for i, owner := range owners {
		target := share
		if i < rem {
			target++
		}
		take := min(max(0, target-len(v.byOwner[owner])), len(free))
		if owner == b.owner {
			return free[:take]
		}
		free = free[take:]
	}
	return nil
}

// join is the start of a round of a Balanced owner that holds nothing
// while partitions are free. The records know an owner only once it holds
// a partition (they have no presence of their own), so replicas starting
// together would each see itself alone and claim everything, and then take
// from each other a partition per round for many rounds. Instead it claims
// one free partition, waits JoinWindow for those starting with it to claim
// theirs, and returns the records as they are then: every replica that
// started within the window counts the same owners and claims its own part
// of the rest (planned).
func (b *Balancer) join(ctx context.Context, v view, partitionIDs []string) (view, error) {
	// Two starting replicas may pick the same partition: the one that
	// lost it picks another, so that it counts as an owner too.
	for range 3 {
		one := b.pick(v.available, 1)
		if len(one) == 0 {
			break
		}
		one[0].OwnerID = b.owner
		got, err := b.claim(ctx, one)
		if err != nil {
			return view{}, err
		}
		if len(got) > 0 {
			break
		}
		if v, err = b.read(ctx, partitionIDs); err != nil {
			return view{}, err
		}
	}
	if err := b.wait(ctx, b.opts.JoinWindow); err != nil {
		return view{}, fmt.Errorf("balance: waiting %s for replicas starting together: %w", b.opts.JoinWindow, err)
	}
	return b.read(ctx, partitionIDs)
}

// pick returns up to n of from, at random, so that replicas starting
// together do not all claim the same partitions.
func (b *Balancer) pick(from []azeventhubs.Ownership, n int) []azeventhubs.Ownership {
	if n <= 0 || len(from) == 0 {
		return nil
	}
	from = slices.Clone(from)
	b.rnd.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
	return from[:min(n, len(from))]
}

// settle makes got the owned set and says how it differs from the last.
func (b *Balancer) settle(got []azeventhubs.Ownership, v view) []Change {
	now := map[string]azeventhubs.Ownership{}
	for _, o := range got {
		if o.OwnerID == b.owner {
			now[o.PartitionID] = o
		}
	}
	// A partition is kept only when this round renewed this owner's live
	// claim; one owned, lost to another and taken back between two rounds
	// was lost too: whoever held it meanwhile may have moved its position.
	kept := map[string]bool{}
	for _, o := range v.mine {
		if _, ok := now[o.PartitionID]; ok {
			kept[o.PartitionID] = true
		}
	}
	var changes []Change
	for id := range b.owned {
		if kept[id] {
			continue
		}
		reason := "the partition is gone from the hub or the store"
		if o, ok := v.records[id]; ok {
			reason = "its claim changed in the store"
			switch {
			case o.OwnerID != b.owner && o.OwnerID != "" && !b.expired(o):
				reason = "taken by " + o.OwnerID
			case o.OwnerID == b.owner && b.expired(o):
				reason = "its claim expired: not renewed within " + b.opts.Expiration.String()
			case o.OwnerID == "":
				reason = "relinquished"
			}
		}
		changes = append(changes, Change{PartitionID: id, Reason: reason})
	}
	for id := range now {
		if _, ok := b.owned[id]; ok && kept[id] {
			continue
		}
		reason := "unowned"
		if o, ok := v.records[id]; ok {
			switch {
			case o.OwnerID == "":
				reason = "relinquished"
			case b.expired(o) && o.OwnerID == b.owner:
				reason = "its own expired claim"
			case o.OwnerID == b.owner:
				reason = "a claim of this owner ID from before"
			case b.expired(o):
				reason = "the expired claim of " + o.OwnerID
			case o.OwnerID != b.owner:
				reason = "balanced from " + o.OwnerID
			}
		}
		changes = append(changes, Change{PartitionID: id, Gained: true, Reason: reason})
	}
	slices.SortFunc(changes, func(x, y Change) int { return strings.Compare(x.PartitionID, y.PartitionID) })
	b.owned = now
	return changes
}

// Relinquish gives every owned partition up (an empty owner ID, as the
// SDKs write on a clean shutdown), so that other owners take them at their
// next round instead of after the expiration.
func (b *Balancer) Relinquish(ctx context.Context) ([]Change, error) {
	if len(b.owned) == 0 {
		return nil, nil
	}
	var give []azeventhubs.Ownership
	for _, o := range b.owned {
		o.OwnerID = ""
		give = append(give, o)
	}
	var changes []Change
	for _, id := range b.Owned() {
		changes = append(changes, Change{PartitionID: id, Reason: "relinquished on stop"})
	}
	b.owned = map[string]azeventhubs.Ownership{}
	if _, err := b.store.ClaimOwnership(ctx, give, nil); err != nil {
		return changes, fmt.Errorf("balance: relinquishing: %w; other owners take the partitions once the claims expire", err)
	}
	return changes, nil
}
