package streaming

// RunState is where a Context stands in its life.
type RunState int

const (
	StateNew      RunState = iota // Run not called yet
	StateRunning                  // Run is running batches
	StateStopping                 // Stop was called; Run has not returned
	StateStopped                  // Run returned nil
	StateFailed                   // Run returned an error
)

func (s RunState) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateRunning:
		return "running"
	case StateStopping:
		return "stopping"
	case StateStopped:
		return "stopped"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// State says where the Context stands and, once it failed, why: the
// error Run returned. Safe to call from any goroutine, e.g. a status page.
func (c *Context) State() (RunState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ended:
		if c.runErr != nil {
			return StateFailed, c.runErr
		}
		return StateStopped, nil
	case !c.running:
		return StateNew, nil
	case c.stopping:
		return StateStopping, nil
	}
	return StateRunning, nil
}
