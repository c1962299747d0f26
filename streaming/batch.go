package streaming

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// runningBatch is one run of a batch, planned now or replayed from the
// checkpoint: what the steps of runBatch share. The goroutine in Run owns
// it.
type runningBatch struct {
	c      *Context
	inputs []Input
	store  CheckpointStore

	ctx    context.Context         // the batch's: an immediate Stop, or a lost lease, cancels it
	cancel context.CancelCauseFunc // ctx's
	// octx is the outputs' context: ctx, carrying the batch's lease for
	// CheckFence once the plan is saved; release stops renewing the lease,
	// and may be called again.
	octx    context.Context
	release func()

	begin    time.Time
	info     BatchInfo   // the listeners' record, filled as the steps go
	ck       *Checkpoint // the plan, then the done-mark
	stateful bool        // a pipeline keeps state: the batch is checkpointed and runs its outputs, whatever it reads
	save     bool        // the batch is checkpointed (checkpointPlan decides)
	failures int         // how many runs of its outputs failed so far
}

// runBatch runs one batch, as its steps: plan (or replay), checkpoint the
// plan, run the outputs (again after each failure that ContextOptions.Retry
// retries), commit the state of stateful streams, mark the batch done, and
// tell the listeners. A failed step's batch is undone, to run again; one an
// input abandoned (ErrReplan) is not a failure.
func (c *Context) runBatch(ctx context.Context, inputs []Input, store CheckpointStore, number int64, due time.Time, replay [][]Range) (err error) {
	r, err := c.startBatch(ctx, inputs, store, number, due, replay != nil)
	if err != nil {
		return err
	}
	defer func() { r.end(err) }()
	if err := r.plan(replay); err != nil {
		return err
	}
	if err := r.checkpointPlan(); err != nil {
		return err
	}
	if err := r.runOutputs(); err != nil {
		r.undo()
		return r.abandonOnReplan(err)
	}
	if err := r.commitState(); err != nil {
		r.undo()
		return err
	}
	if err := r.markDone(); err != nil {
		return err
	}
	r.tellCompleted()
	return nil
}

// startBatch begins batch number, due at due: its record and its context,
// which an immediate Stop cancels. Once Stop was called it refuses
// (errStopped) to begin a batch that is not replayed.
func (c *Context) startBatch(ctx context.Context, inputs []Input, store CheckpointStore, number int64, due time.Time, replay bool) (*runningBatch, error) {
	begin := time.Now()
	bctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	if c.stopping && !replay {
		c.mu.Unlock()
		cancel(nil)
		return nil, errStopped
	}
	c.cancelBatch = cancel
	c.mu.Unlock()
	c.current = number // until the batch completes
	r := &runningBatch{c: c, inputs: inputs, store: store, ctx: bctx, cancel: cancel, octx: bctx, release: func() {}, begin: begin,
		info: BatchInfo{Number: number, Time: due, Replay: replay, SchedulingDelay: max(begin.Sub(due), 0)},
		ck:   &Checkpoint{Version: checkpointVersion, Batch: number, Time: due, Inputs: make([]InputCheckpoint, len(inputs))}}
	// Stateful streams change with every batch, whether it reads or not:
	// each batch is checkpointed, planned and done, and runs its outputs.
	if r.stateful = c.hasState(); r.stateful {
		r.ck.Version, r.ck.State = stateCheckpointVersion, c.state
	}
	return r, nil
}

// end lets go of the batch once runBatch returns err: it stops renewing
// the lease, tells the listeners of a failure (an immediate stop is none),
// and cancels the batch's context.
func (r *runningBatch) end(err error) {
	r.release()
	if err != nil && !errors.Is(err, errStopped) {
		r.c.tellFailed(r.info, err, max(r.failures, 1), false, r.begin)
	}
	r.c.mu.Lock()
	r.c.cancelBatch = nil
	r.c.mu.Unlock()
	r.cancel(nil)
}

// plan asks each input for its part of the batch, or takes it from replay,
// into the checkpoint and the record.
func (r *runningBatch) plan(replay [][]Range) error {
	info := &r.info
	for i, in := range r.inputs {
		var p Plan
		if replay != nil {
			p.Ranges = replay[i]
		} else {
			var err error
			if p, err = in.Plan(r.ctx, info.Time); err != nil {
				return fmt.Errorf("streaming: planning batch %d: %w", info.Number, err)
			}
		}
		r.ck.Inputs[i] = InputCheckpoint{Identity: in.Identity(), Ranges: p.Ranges}
		info.Ranges = append(info.Ranges, p.Ranges...)
		// One lag per range, zero where the input gave none.
		at := len(info.Lag)
		info.Lag = append(info.Lag, make([]int64, len(p.Ranges))...)
		copy(info.Lag[at:], p.Lag)
		info.Rate += p.Rate
	}
	return nil
}

// checkpointPlan decides whether the batch is checkpointed and, if so,
// writes its plan before the outputs run, and holds its lease in a fenced
// store while they do.
func (r *runningBatch) checkpointPlan() error {
	// A batch that moves no position needs no checkpoint, unless it holds
	// one no checkpoint has yet: a position resolved once (the end of the
	// stream, say) must never be resolved again, or what arrives while the
	// stream is down is skipped.
	r.save = r.stateful
	for i := 0; r.store != nil && !r.save && i < len(r.ck.Inputs); i++ {
		r.save = r.c.stored.lacks(i, r.ck.Inputs[i].Ranges)
	}
	if !r.save {
		return nil
	}
	// In a fenced store a replayed plan is written too: it becomes this
	// instance's, with a lease.
	if _, fenced := r.store.(FencedStore); fenced || !r.info.Replay {
		if fenced {
			r.ck.Lease = time.Now().Add(r.c.lease)
		}
		if err := r.c.save(r.ctx, r.store, r.ck); err != nil {
			return fmt.Errorf("streaming: checkpointing the plan of batch %d: %w", r.info.Number, err)
		}
	}
	r.octx, r.release = r.c.holdLease(r.ctx, r.cancel, r.store, r.ck)
	return nil
}

// runOutputs runs each input's part of the batch, outputs included, and
// adds what it read to the record. With SkipEmptyBatches an input whose
// ranges hold no position its outputs have not seen runs nothing.
func (r *runningBatch) runOutputs() error {
	c, info := r.c, &r.info
	info.RangeSkipped = make([]int64, len(info.Ranges))
	next := 0 // where the next input's ranges start in info.Ranges
	for i, in := range r.inputs {
		ranges := r.ck.Inputs[i].Ranges
		first := next
		next += len(ranges)
		if c.skipEmpty && !r.stateful && !info.Replay && !c.handed.lacks(i, ranges) {
			continue
		}
		b := &Batch{Number: info.Number, Time: info.Time, Ranges: ranges, Replay: info.Replay, outs: newOutputs(c.log)}
		res, err := r.runInput(in, b)
		if err != nil {
			return err
		}
		c.handed.add(i, ranges)
		info.Outputs = append(info.Outputs, b.times(i)...)
		info.Events += res.Events
		info.Skipped += res.Skipped
		if len(res.RangeSkipped) == len(ranges) {
			copy(info.RangeSkipped[first:], res.RangeSkipped)
		}
	}
	return nil
}

// undo undoes what a failed batch did to the state of stateful streams,
// since the batch runs again, and in a fenced store ends its lease, so that
// a newer instance need not wait for it.
func (r *runningBatch) undo() {
	for _, g := range r.c.graphs {
		g.abortBatch()
	}
	if r.save {
		r.release()
		r.c.giveUp(r.store, r.ck)
	}
}

// abandonOnReplan returns nil for a batch an input abandoned to plan it
// again (ErrReplan), having told the listeners; any other error as is.
func (r *runningBatch) abandonOnReplan(err error) error {
	if !errors.Is(err, ErrReplan) || r.ctx.Err() != nil {
		return err
	}
	r.c.log.Warn("streaming: batch abandoned: an input plans it again", "batch", r.info.Number, "cause", err)
	r.c.current = 0
	r.c.tellAbandoned(r.info, err, r.begin)
	return nil
}

// commitState makes the batch's changes to the state of stateful streams
// permanent and writes them beside the checkpoint, for the done-mark to
// name.
func (r *runningBatch) commitState() error {
	for _, g := range r.c.graphs {
		if err := g.checkStateStored(r.info.Number); err != nil {
			return err
		}
	}
	if !r.stateful {
		return nil
	}
	st, err := r.c.commitState(r.ctx, r.info.Number)
	if err != nil {
		return err
	}
	r.ck.State = st
	return nil
}

// markDone ends the batch in the pipelines and, when it is checkpointed,
// saves its done-mark, which commits its state too.
func (r *runningBatch) markDone() error {
	c := r.c
	c.endBatches(true)
	if !r.save {
		return nil
	}
	r.release()
	r.ck.Done, r.ck.Lease = true, time.Time{}
	if err := c.save(r.ctx, r.store, r.ck); err != nil {
		return fmt.Errorf("streaming: marking batch %d done: %w", r.info.Number, err)
	}
	for i, in := range r.ck.Inputs {
		c.stored.add(i, in.Ranges)
	}
	if r.stateful {
		c.stateSaved(r.ctx, r.ck.State)
	}
	return nil
}

// tellCompleted tells the listeners the batch completed.
func (r *runningBatch) tellCompleted() {
	r.info.ProcessingTime = time.Since(r.begin)
	r.c.current = 0
	for _, l := range r.c.listenersNow() {
		l.OnBatchCompleted(r.info)
	}
}

// runInput runs in's part of the batch b, again after each failure that
// ContextOptions.Retry retries; a retry runs only the outputs that did not complete.
// It returns errStopped after an immediate stop, the input's error when
// it abandons the batch (ErrReplan), or the error that ends the batch.
func (r *runningBatch) runInput(in Input, b *Batch) (Result, error) {
	c, bctx := r.c, r.octx
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
		r.failures++
		wait, again := time.Duration(0), false
		if c.retry != nil && bctx.Err() == nil {
			wait, again = c.retry(err, r.failures)
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
		c.tellFailed(r.info, err, r.failures, true, r.begin)
		c.log.Warn("streaming: batch failed; running its output again", "batch", b.Number, "attempt", r.failures,
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
