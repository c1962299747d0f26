package streaming

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// RunUntilSignal is Run, with the signals (SIGINT and SIGTERM when none are
// given) turned into stops: the first lets the running batch finish, its
// output and checkpoint included (Stop(true)), and Run returns nil; a
// second stops at once (Stop(false)), leaving that batch to run again after
// a restart. Cancelling ctx stops at once, as with Run.
//
// Go programs often cancel a context on SIGINT; that abandons the running
// batch. This is the graceful stop a streaming job wants instead.
func (c *Context) RunUntilSignal(ctx context.Context, signals ...os.Signal) error {
	if len(signals) == 0 {
		signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, signals...)
	defer signal.Stop(ch)
	done := make(chan struct{})
	defer close(done)
	go func() {
		graceful := true
		for {
			select {
			case sig := <-ch:
				if graceful {
					c.log.Info("streaming: stopping after the running batch; signal again to stop at once", "signal", sig.String())
				} else {
					c.log.Warn("streaming: stopping at once; the running batch runs again after a restart", "signal", sig.String())
				}
				c.Stop(graceful)
				graceful = false
			case <-done:
				return
			}
		}
	}()
	return c.Run(ctx)
}
