package monitor

import (
	"errors"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// Ready returns nil when the stream is ready, else why not. Ready means a
// batch has completed, the last batch did not fail since, and one
// completed within the last three batch intervals; a later completed batch
// makes a stream that was not ready ready again.
func (m *Monitor) Ready() error {
	state, _ := m.ssc.RunState()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readyLocked(state, m.now())
}

func (m *Monitor) readyLocked(state streaming.RunState, now time.Time) error {
	switch {
	case state == streaming.RunFailed:
		return errors.New("the stream failed")
	case state == streaming.RunStopped:
		return errors.New("the stream stopped")
	case m.lastFailure != nil:
		f := m.lastFailure
		return fmt.Errorf("batch %d failed (attempt %d): %s", f.Number, f.Attempt, f.Error)
	case m.lastDone == nil:
		return errors.New("no batch has completed yet")
	}
	if since, limit := now.Sub(m.lastDone.End), 3*m.interval; since > limit {
		return fmt.Errorf("no batch has completed for %s, more than three batch intervals (%s)", since.Round(time.Millisecond), limit)
	}
	return nil
}
