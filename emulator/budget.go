package emulator

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// byteBudget bounds the bytes of deliveries the emulator holds, from their
// first frame until they are stored or dropped. A delivery is counted from
// its first frame at the most it may grow to (its size, when that frame is
// the only one), so one that never ends counts too; once complete, at its
// size.
//
// Producer links size their credit by what is free, but each link sees
// the whole of it, so credit may promise more than there is. What holds
// the bound is reserve: a delivery that starts when there is no room waits
// for some, and with it the connection it comes on, which then reads
// nothing more: the client is held back by TCP, as brokers hold back
// publishers when memory runs short. Room comes as the partition logs store
// what is held, which needs no reader; a delivery that finds none within
// reserveWait (the budget is full of deliveries that do not end) is
// refused with com.microsoft:server-busy, which the SDKs retry, so that no
// connection waits for good. A link whose credit the budget held back
// waits too, and is woken when bytes are given back.
type byteBudget struct {
	limit int64
	held  atomic.Int64

	blocked  atomic.Int64 // readers in reserve, waiting for room
	nwaiters atomic.Int64 // len(waiters), read without mu on every give
	mu       sync.Mutex
	freed    chan struct{}           // closed by the next give, for blocked readers
	waiters  map[*producerLink]int64 // link → the free bytes it waits for
}

// reserveWait bounds how long a delivery waits for room in the budget,
// holding up its connection, before it is refused.
const reserveWait = time.Second

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, waiters: map[*producerLink]int64{}}
}

// take counts n more bytes held, unless that would overrun the limit.
func (b *byteBudget) take(n int64) bool {
	for {
		h := b.held.Load()
		if h+n > b.limit {
			return false
		}
		if b.held.CompareAndSwap(h, h+n) {
			return true
		}
	}
}

// reserve takes n bytes, waiting up to reserveWait for room, or until done
// is closed; false when there was none.
func (b *byteBudget) reserve(n int64, done <-chan struct{}) bool {
	if b.take(n) {
		return true
	}
	b.blocked.Add(1)
	defer b.blocked.Add(-1)
	timer := time.NewTimer(reserveWait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		// Counted in blocked before looking again: a give from now on
		// closes freed.
		if b.take(n) {
			return true
		}
		select {
		case <-freed:
		case <-timer.C:
			return false
		case <-done:
			return false
		}
	}
}

// give returns n bytes taken, and wakes the readers waiting for room and
// the links waiting for what is free now.
func (b *byteBudget) give(n int64) {
	if n == 0 {
		return
	}
	b.held.Add(-n)
	// A waiter registers before it looks at what is free (reserve, wait),
	// and give frees before it looks for waiters: one of the two sees the
	// other.
	if b.blocked.Load() > 0 {
		b.mu.Lock()
		if b.freed != nil {
			close(b.freed)
			b.freed = nil
		}
		b.mu.Unlock()
	}
	if b.nwaiters.Load() == 0 {
		return
	}
	free := b.free()
	b.mu.Lock()
	defer b.mu.Unlock()
	for l, need := range b.waiters {
		if need <= free {
			delete(b.waiters, l)
			b.nwaiters.Add(-1)
			l.wake()
		}
	}
}

func (b *byteBudget) free() int64 { return b.limit - b.held.Load() }

// wait registers l to be woken once need bytes are free. It reports false,
// registering nothing, when they are free already.
func (b *byteBudget) wait(l *producerLink, need int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.waiters[l]; !ok {
		b.nwaiters.Add(1)
	}
	b.waiters[l] = need
	if b.free() >= need {
		delete(b.waiters, l)
		b.nwaiters.Add(-1)
		return false
	}
	return true
}

// forget drops l from the waiters: it is closed.
func (b *byteBudget) forget(l *producerLink) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.waiters[l]; ok {
		delete(b.waiters, l)
		b.nwaiters.Add(-1)
	}
}

// errOverBudget is the refusal of a delivery the budget could not hold:
// server-busy, as the service answers when it throttles, so that the SDKs
// retry it after a pause.
func errOverBudget(what string, limit int64, setting string) *amqp.Error {
	return amqpErr(condServerBusy, fmt.Sprintf(
		"The emulator is holding as many bytes of deliveries in flight as %s allows (%d, %s); retry once earlier sends are stored, or raise %s.",
		what, limit, setting, setting))
}
