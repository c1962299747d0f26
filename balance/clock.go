package balance

import (
	"context"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// A claim's LastModifiedTime is the store's clock (the database's, the
// storage service's), and a replica's clock may disagree with it by more
// than an expiration: judged on the replica's own clock, as the SDKs
// judge it, a replica ahead of the store sees its own fresh claims
// expired, and one behind sees dead replicas' claims alive. A Balancer
// therefore judges expiry on its estimate of the store's clock: the time
// its own last claims were stamped with, against its clock when it made
// them, else the store's Clock, where it has one.

// Clock is implemented by a store that can tell its clock, the one that
// stamps claims (package ownership's SQL store reads the database's).
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}

// storeNow is the balancer's estimate of the store's clock now.
func (b *Balancer) storeNow() time.Time { return b.now().Add(b.offset) }

// expired reports a claim not renewed within the expiration, by the
// store's clock.
func (b *Balancer) expired(o azeventhubs.Ownership) bool {
	return b.storeNow().Sub(o.LastModifiedTime) > b.opts.Expiration
}

// readClock sets the offset from the store's Clock, before a round reads
// the records, unless claims gave it already: those stamps are what the
// records' times are compared with.
func (b *Balancer) readClock(ctx context.Context) {
	c, ok := b.store.(Clock)
	if !ok || b.fromClaims {
		return
	}
	before := b.now()
	t, err := c.Now(ctx)
	if err != nil {
		return // the round's listing will say what is wrong with the store
	}
	b.offset = t.Sub(midpoint(before, b.now()))
}

// claimed sets the offset from the claims a ClaimOwnership call made
// between before and after: each was stamped by the store's clock during
// the call. The median of them stands for the round.
func (b *Balancer) claimed(got []azeventhubs.Ownership, before, after time.Time) {
	if len(got) == 0 {
		return
	}
	at := midpoint(before, after)
	offsets := make([]time.Duration, len(got))
	for i, o := range got {
		offsets[i] = o.LastModifiedTime.Sub(at)
	}
	slices.Sort(offsets)
	b.offset, b.fromClaims = offsets[len(offsets)/2], true
}

func midpoint(a, b time.Time) time.Time { return a.Add(b.Sub(a) / 2) }

// ClockOffset is how far the store's clock is estimated ahead of this
// replica's (negative: behind), from the last round.
func (b *Balancer) ClockOffset() time.Duration { return b.offset }
