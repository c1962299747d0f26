package sqlsink

import (
	"sync"
	"testing"
)

// IdleInTransaction is how long the server lets a batch's transaction wait
// idle, unless the --sink URL says otherwise.
const IdleInTransaction = idleInTransaction

// HoldAfterPositions stops sk's batches where a PostgreSQL writer holds
// the positions' row locks, after committing the positions and before
// COMMIT, as a paused process would stop there: held receives once a
// batch is stopped, and release lets it go on.
func HoldAfterPositions(t *testing.T, sk *Sink) (held <-chan struct{}, release func()) {
	stopped, released := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	testHookPositionsCommitted = func(s *Sink) {
		if s != sk {
			return
		}
		select {
		case stopped <- struct{}{}:
		default:
		}
		<-released
	}
	t.Cleanup(func() {
		release()
		testHookPositionsCommitted = nil
	})
	return stopped, release
}
