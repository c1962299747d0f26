package streaming

import (
	"context"
	"errors"
	"sync"
	"time"
)

// lease is the hold of this instance on its batch in flight in a fenced
// store: the plan it saved, until when the store says the batch is its
// own, and whether it lost the batch to another instance.
type lease struct {
	c      *Context
	store  FencedStore
	cancel context.CancelCauseFunc // the batch's: losing the batch ends it

	mu    sync.Mutex // held while the lease is renewed
	plan  Checkpoint
	until time.Time // the lease last saved
	lost  *FencedError
}

type leaseKey struct{}

// CheckFence reports whether this instance still holds the batch whose
// context ctx is (an output's): nil while it does, a *FencedError once
// another instance of the job may run the batch, because that instance
// fenced the checkpoint store and took the batch over, or because this
// one's lease ran out (the process was paused, or the store out of reach,
// for longer than ContextOptions.BatchLease) and cannot be renewed. The
// batch's context is then cancelled with that error as its cause.
//
// An output whose effects cannot be taken back and whose positions are
// not committed with its results (at least once) calls CheckFence right
// before each effect, and returns its error: then no event is processed by
// two instances of the job, but for one whose process stops between the
// check and the effect for longer than the lease. Without a fenced store
// (DirStore is one), or for a batch without a checkpoint, it returns nil.
//
// It costs a lock and a clock reading, and a write to the store only when
// the lease ran out.
func CheckFence(ctx context.Context) error {
	l, ok := ctx.Value(leaseKey{}).(*lease)
	if !ok {
		return nil
	}
	return l.check(ctx)
}

// holdLease renews the lease of ck, the plan of the batch in flight just
// saved with its lease, every third of the lease until the returned
// function is called; that function returns once no renewal runs any
// more, so a later save cannot be overwritten by one, and may be called
// again. A renewal the store refuses (another instance took the batch)
// cancels the batch with the *FencedError as the cause. The returned
// context carries the lease, for CheckFence. Stores that are not fenced
// have no leases.
func (c *Context) holdLease(bctx context.Context, cancel context.CancelCauseFunc, store CheckpointStore, ck *Checkpoint) (context.Context, func()) {
	fs, ok := store.(FencedStore)
	if !ok {
		return bctx, func() {}
	}
	l := &lease{c: c, store: fs, cancel: cancel, plan: *ck, until: ck.Lease}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(c.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.lease/3)
			err := l.renew(ctx)
			cancel()
			var fe *FencedError
			if errors.As(err, &fe) {
				c.log.Warn("streaming: the running batch is no longer this instance's: it is cancelled", "batch", ck.Batch, "err", err)
				return
			}
			if err != nil {
				c.log.Warn("streaming: renewing the lease of the running batch", "batch", ck.Batch, "err", err)
			}
		}
	}()
	var once sync.Once
	return context.WithValue(bctx, leaseKey{}, l), func() { once.Do(func() { close(stop); <-done }) }
}

// renew saves the plan with a new lease. A *FencedError, the store's
// refusal, loses the batch; another error leaves the lease as it was.
func (l *lease) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	plan := l.plan
	plan.Lease = time.Now().Add(l.c.lease)
	err := l.store.SaveAs(ctx, l.c.instance, &plan)
	var fe *FencedError
	if errors.As(err, &fe) {
		l.loseLocked(fe)
		return fe
	}
	if err == nil {
		l.until = plan.Lease
	}
	return err
}

// loseLocked records that another instance may run the batch, and cancels it.
// l.mu is held.
func (l *lease) loseLocked(fe *FencedError) {
	if fe.Batch == 0 {
		fe.Batch = l.plan.Batch
	}
	l.lost = fe
	l.cancel(fe)
}

func (l *lease) check(ctx context.Context) error {
	l.mu.Lock()
	lost, until := l.lost, l.until
	l.mu.Unlock()
	if lost != nil {
		return lost
	}
	if time.Now().Before(until) {
		return nil
	}
	// The lease ran out: another instance may be taking the batch over. A
	// renewal, under the store's lock, says whether one fenced the store
	// meanwhile (the store then refuses); if none did, any that comes
	// later waits for the renewed lease. A store that does not answer in
	// time cannot say: the batch is taken for lost.
	rctx, cancel := context.WithTimeout(ctx, l.c.lease/3)
	err := l.renew(rctx)
	cancel()
	if err == nil {
		return nil
	}
	var fe *FencedError
	if errors.As(err, &fe) {
		return fe
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.loseLocked(&FencedError{Instance: l.c.instance, Batch: l.plan.Batch, LeaseEnded: until, Err: err})
	}
	return l.lost
}
