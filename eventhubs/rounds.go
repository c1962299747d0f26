package eventhubs

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ehstream/ehstream/balance"
)

// rounds runs a replica's ownership rounds in the background, every
// UpdateInterval: renewals must not wait for a long batch, or claims
// lapse while the stream works. It keeps what they found for the stream's
// goroutine, which takes it in at its next plan (take).
type rounds struct {
	b *balance.Balancer // the rounds' goroutine's once it runs; stop's after

	mu      sync.Mutex
	ids     []string         // the hub's partitions, as the last plan saw them
	owned   []string         // as the last round left them
	changes []balance.Change // not yet taken in by a plan
	err     error            // the last round's, nil once one succeeds
	round   int              // rounds completed
	// renewed is when the last round that succeeded began: the claims it
	// renewed stand until the expiration after it, by any clock.
	renewed time.Time
	// taken holds partitions whose link another reader took, with the
	// round then: they are not read again before a later round says they
	// are still this replica's (the taker may not have claimed yet), or
	// the two would take the link from each other.
	taken map[string]int
	// offset is the store's clock minus this process's, as the last round
	// that succeeded estimated it (balance.Balancer.ClockOffset); renewals
	// and failures count the rounds that renewed the claims and those that
	// failed. A watch of the job reads them (stats).
	offset             time.Duration
	renewals, failures int64

	stop, done chan struct{}
}

// first claims the replica's first partitions among the hub's ids, then
// runs the rounds in the background.
func (r *rounds) first(ctx context.Context, ids []string) error {
	r.ids = ids
	began := time.Now()
	changes, err := r.b.Round(ctx, ids)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.owned, r.changes, r.renewed = r.b.Owned(), changes, began
	r.offset, r.renewals = r.b.ClockOffset(), r.renewals+1
	r.mu.Unlock()
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.run()
	return nil
}

func (r *rounds) run() {
	defer close(r.done)
	every := r.b.UpdateInterval()
	for {
		// Jitter, as the SDKs do, so that replicas started together do not
		// claim in lockstep.
		wait := every + time.Duration(rand.Int64N(int64(every)/5+1)) - every/10
		select {
		case <-r.stop:
			return
		case <-time.After(wait):
		}
		r.mu.Lock()
		ids := slices.Clone(r.ids)
		r.mu.Unlock()
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		changes, err := r.b.Round(ctx, ids)
		cancel()
		offset := r.b.ClockOffset()
		r.mu.Lock()
		r.err = err
		if err == nil {
			r.round++
			r.owned, r.renewed = r.b.Owned(), began
			r.changes = append(r.changes, changes...)
			r.offset, r.renewals = offset, r.renewals+1
		} else {
			r.failures++
		}
		r.mu.Unlock()
	}
}

// close stops the rounds and relinquishes every partition; it returns the
// partitions given up. Without a first round it does nothing.
func (r *rounds) close() ([]balance.Change, error) {
	if r.stop == nil {
		return nil, nil
	}
	close(r.stop)
	<-r.done
	r.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.b.Relinquish(ctx)
}

// seen records the hub's partitions, as a plan found them, for the next
// rounds.
func (r *rounds) seen(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = slices.Clone(ids)
}

// found is what the rounds found since the stream last asked (take).
type found struct {
	owned   []string         // the partitions owned now, those another reader took lately left out
	changes []balance.Change // gained and lost since
	err     error            // the last round's
	renewed time.Time        // when the last round that succeeded began
}

// take hands the stream what the rounds found since it last asked.
func (r *rounds) take() found {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := found{owned: slices.Clone(r.owned), changes: r.changes, err: r.err, renewed: r.renewed}
	r.changes = nil
	for id, at := range r.taken {
		if r.round > at {
			delete(r.taken, id)
		} else {
			f.owned = slices.DeleteFunc(f.owned, func(o string) bool { return o == id })
		}
	}
	return f
}

// markTaken keeps partition id, whose link another reader took, out of
// what take hands out until a later round.
func (r *rounds) markTaken(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.taken == nil {
		r.taken = map[string]int{}
	}
	r.taken[id] = r.round
}

// stats is what a watch of the job needs of the rounds: the store's clock
// minus this process's, and how many rounds renewed the claims and failed.
func (r *rounds) stats() (offset time.Duration, renewals, failures int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.offset, r.renewals, r.failures
}
