package balance

import (
	"context"
	"fmt"
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
// A round refuses (*OtherJobError), claiming nothing, when live claims of
// the consumer group belong to another job (JobStore).
func (b *Balancer) Round(ctx context.Context, partitionIDs []string) ([]Change, error) {
	b.readClock(ctx)
	v, err := b.read(ctx, partitionIDs)
	if err != nil {
		return nil, err
	}
	if err := b.otherJob(ctx, v); err != nil {
		return nil, err
	}
	owners := len(v.byOwner)
	share := len(partitionIDs) / owners
	extra := len(partitionIDs)%owners > 0
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
	if want {
		switch b.opts.Strategy {
		case Greedy:
			claims = append(claims, b.pick(v.available, limit-len(claims))...)
			claims = append(claims, b.pick(above, limit-len(claims))...)
		default:
			// Partitions whose owner left (relinquished on a clean stop, or
			// expired) are taken at once, up to the share, so that a stop
			// or a crash moves them within a round or two; else one
			// partition per round, as the SDKs do, so that replicas
			// starting together share without taking from each other.
			var given []azeventhubs.Ownership
			for _, o := range v.available {
				if o.ETag != nil {
					given = append(given, o)
				}
			}
			switch {
			case len(given) > 0:
				claims = append(claims, b.pick(given, limit-len(claims))...)
			case len(v.available) > 0:
				claims = append(claims, b.pick(v.available, 1)...)
			default:
				claims = append(claims, b.pick(above, 1)...)
			}
		}
	}
	for i := range claims {
		claims[i].OwnerID = b.owner
	}
	var got []azeventhubs.Ownership
	if len(claims) > 0 {
		before := b.now()
		if got, err = b.store.ClaimOwnership(ctx, claims, nil); err != nil {
			return nil, fmt.Errorf("balance: claiming ownership: %w", err)
		}
		b.claimed(got, before, b.now())
	}
	return b.settle(got, v), nil
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
