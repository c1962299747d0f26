package streaming

// RunState is where a Context stands in its life: whether Run was called,
// and how it ended. (State, StateSpec and StateStore are about the keyed
// state of stateful streams.)
type RunState int

const (
	RunNew      RunState = iota // Run not called yet
	RunRunning                  // Run is running batches
	RunStopping                 // Stop was called; Run has not returned
	RunStopped                  // Run returned nil
	RunFailed                   // Run returned an error
)

func (s RunState) String() string {
	switch s {
	case RunNew:
		return "new"
	case RunRunning:
		return "running"
	case RunStopping:
		return "stopping"
	case RunStopped:
		return "stopped"
	case RunFailed:
		return "failed"
	}
	return "unknown"
}

// RunState says where the Context stands and, once it failed, why: the
// error Run returned. Safe to call from any goroutine, e.g. a status page.
func (c *Context) RunState() (RunState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ended:
		if c.runErr != nil {
			return RunFailed, c.runErr
		}
		return RunStopped, nil
	case !c.running:
		return RunNew, nil
	case c.stopping:
		return RunStopping, nil
	}
	return RunRunning, nil
}
