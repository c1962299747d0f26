package streaming

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// runBatch plans (or replays), checkpoints, runs and reports one batch.
func (c *Context) runBatch(ctx context.Context, inputs []Input, store CheckpointStore, number int64, due time.Time, replay [][]Range) (err error) {
	begin := time.Now()
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.mu.Lock()
	if c.stopping && replay == nil {
		c.mu.Unlock()
		return errStopped
	}
	c.cancelBatch = cancel
	c.mu.Unlock()
	c.current = number // until the batch completes
	defer func() {
		c.mu.Lock()
		c.cancelBatch = nil
		c.mu.Unlock()
	}()

	run := &attempts{info: BatchInfo{Number: number, Time: due, Replay: replay != nil, SchedulingDelay: max(begin.Sub(due), 0)}, begin: begin}
	info := &run.info
	defer func() {
		if err != nil && !errors.Is(err, errStopped) {
			c.tellFailed(*info, err, max(run.failures, 1), false, begin)
		}
	}()
	ck := &Checkpoint{Version: checkpointVersion, Batch: number, Time: due, Inputs: make([]InputCheckpoint, len(inputs))}
	// Stateful streams change with every batch, whether it reads or not:
	// each batch is checkpointed, planned and done, and runs its outputs.
	stateful := c.hasState()
	if stateful {
		ck.Version, ck.State = stateCheckpointVersion, c.state
	}
	if err := planBatch(bctx, inputs, replay, ck, info); err != nil {
		return err
	}
	// A batch that moves no position needs no checkpoint, unless it holds
	// one no checkpoint has yet: a position resolved once (the end of the
	// stream, say) must never be resolved again, or what arrives while the
	// stream is down is skipped.
	save := stateful
	for i := 0; store != nil && !save && i < len(ck.Inputs); i++ {
		save = c.stored.lacks(i, ck.Inputs[i].Ranges)
	}
	_, fenced := store.(FencedStore)
	if save && (replay == nil || fenced) {
		// In a fenced store a replayed plan is written too: it becomes this
		// instance's, with a lease.
		if fenced {
			ck.Lease = time.Now().Add(c.lease)
		}
		if err := c.save(bctx, store, ck); err != nil {
			return fmt.Errorf("streaming: checkpointing the plan of batch %d: %w", number, err)
		}
	}
	// The outputs' context carries the batch's lease, for CheckFence.
	octx, release := bctx, func() {}
	if save {
		octx, release = c.holdLease(bctx, cancel, store, ck)
	}
	defer release()
	failed := func() {
		// Undo what the batch did to state: it runs again.
		for _, g := range c.graphs {
			g.abortBatch()
		}
		if save {
			release()
			c.giveUp(store, ck)
		}
	}
	info.RangeSkipped = make([]int64, len(info.Ranges))
	next := 0 // where the next input's ranges start in info.Ranges
	for i, in := range inputs {
		ranges := ck.Inputs[i].Ranges
		first := next
		next += len(ranges)
		if c.skipEmpty && !stateful && replay == nil && !c.handed.lacks(i, ranges) {
			continue
		}
		b := &Batch{Number: number, Time: due, Ranges: ranges, Replay: replay != nil, outs: newOutputs(c.log)}
		res, err := c.runInput(octx, in, b, run)
		if err != nil {
			failed()
			if errors.Is(err, ErrReplan) && bctx.Err() == nil {
				c.log.Warn("streaming: batch abandoned: an input plans it again", "batch", number, "cause", err)
				c.current = 0
				c.tellAbandoned(*info, err, begin)
				return nil
			}
			return err
		}
		c.handed.add(i, ranges)
		info.Events += res.Events
		info.Skipped += res.Skipped
		if len(res.RangeSkipped) == len(ranges) {
			copy(info.RangeSkipped[first:], res.RangeSkipped)
		}
	}
	if stateful {
		st, err := c.commitState(bctx, number)
		if err != nil {
			failed()
			return err
		}
		ck.State = st
	}
	c.endBatches(true)
	if save {
		release()
		ck.Done, ck.Lease = true, time.Time{}
		if err := c.save(bctx, store, ck); err != nil {
			return fmt.Errorf("streaming: marking batch %d done: %w", number, err)
		}
		for i, in := range ck.Inputs {
			c.stored.add(i, in.Ranges)
		}
		if stateful {
			c.stateSaved(bctx, ck.State)
		}
	}
	info.ProcessingTime = time.Since(begin)
	c.current = 0
	for _, l := range c.listenersNow() {
		l.OnBatchCompleted(*info)
	}
	return nil
}

// planBatch asks each input for its part of the batch (or takes it from
// replay) into ck and info.
func planBatch(ctx context.Context, inputs []Input, replay [][]Range, ck *Checkpoint, info *BatchInfo) error {
	for i, in := range inputs {
		var p Plan
		if replay != nil {
			p.Ranges = replay[i]
		} else {
			var err error
			if p, err = in.Plan(ctx, info.Time); err != nil {
				return fmt.Errorf("streaming: planning batch %d: %w", info.Number, err)
			}
		}
		ck.Inputs[i] = InputCheckpoint{Identity: in.Identity(), Ranges: p.Ranges}
		info.Ranges = append(info.Ranges, p.Ranges...)
		// One lag per range, zero where the input gave none.
		at := len(info.Lag)
		info.Lag = append(info.Lag, make([]int64, len(p.Ranges))...)
		copy(info.Lag[at:], p.Lag)
		info.Rate += p.Rate
	}
	return nil
}

// attempts is what runInput needs of the batch to report a failed run:
// its record and how many runs failed so far.
type attempts struct {
	info     BatchInfo
	begin    time.Time
	failures int
}

// runInput runs in's part of the batch b, again after each failure that
// c.retry retries; a retry runs only the outputs that did not complete.
// It returns errStopped after an immediate stop, the input's error when
// it abandons the batch (ErrReplan), or the error that ends the batch.
func (c *Context) runInput(bctx context.Context, in Input, b *Batch, run *attempts) (Result, error) {
	g := c.graphFor(in)
	for attempt := 1; ; attempt++ {
		if g != nil {
			g.beginBatch(b)
		}
		res, err := in.Run(bctx, b)
		if err != nil && !b.tracked() && (b.Replay || attempt > 1) && IsAlreadyCommitted(err) {
			// An input that runs its outputs otherwise than through
			// RunOutput is one output: the crash, or the lost reply of
			// the failed run, came between its commit and the done-mark.
			c.log.Info("streaming: the batch's output had committed before; counting it done", "batch", b.Number, "reason", err)
			return Result{Events: countRanges(b.Ranges)}, nil
		}
		if err == nil {
			return res, nil
		}
		// Undo what the failed run did to the input's state; a retry
		// redoes it. Other inputs' outputs completed: theirs stays.
		if g != nil {
			g.abortBatch()
		}
		if cause := context.Cause(bctx); errors.Is(cause, errStopped) {
			return Result{}, errStopped
		}
		if errors.Is(err, ErrReplan) && bctx.Err() == nil {
			return Result{}, err
		}
		run.failures++
		wait, again := time.Duration(0), false
		if c.retry != nil && bctx.Err() == nil {
			wait, again = c.retry(err, run.failures)
		}
		if !again {
			var fe *FencedError
			if cause := context.Cause(bctx); errors.As(cause, &fe) && !errors.As(err, &fe) {
				// The output stopped because another instance took the
				// batch: say so, whatever the output made of it.
				return Result{}, fmt.Errorf("streaming: batch %d: %w (%w)", b.Number, err, fe)
			}
			return Result{}, fmt.Errorf("streaming: batch %d: %w", b.Number, err)
		}
		// The batch stays this instance's (its lease is renewed) while
		// it waits: no other instance may run it meanwhile.
		c.tellFailed(run.info, err, run.failures, true, run.begin)
		c.log.Warn("streaming: batch failed; running its output again", "batch", b.Number, "attempt", run.failures,
			"wait", wait.String(), "err", err)
		if werr := c.waitToRetry(bctx, wait); werr != nil {
			if errors.Is(werr, errStopped) {
				return Result{}, errStopped
			}
			return Result{}, fmt.Errorf("streaming: batch %d: %w (%v)", b.Number, err, werr)
		}
	}
}

// waitToRetry waits before a failed batch runs again. A stop ends the wait:
// a graceful one with the batch's error (returned as is), an immediate one
// with errStopped.
func (c *Context) waitToRetry(bctx context.Context, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.stopCh:
	case <-bctx.Done():
	}
	if errors.Is(context.Cause(bctx), errStopped) {
		return errStopped
	}
	if bctx.Err() != nil {
		return errors.New("the context ended while the batch waited to run again")
	}
	return errors.New("stopped while the batch waited to run again; it runs again after a restart")
}
