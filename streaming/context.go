package streaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Context runs a stream's batches: the Go form of Spark's StreamingContext.
// Create it, add inputs (eventhubs.CreateDirectStream) and optionally a
// checkpoint store and listeners, then Run it. A Context runs once.
type Context struct {
	interval time.Duration
	log      *slog.Logger

	mu          sync.Mutex
	inputs      []Input
	listeners   []Listener
	store       CheckpointStore
	running     bool // Run was called
	stopping    bool
	ended       bool          // Run returned
	runErr      error         // what Run returned
	stopCh      chan struct{} // closed by Stop
	cancelBatch context.CancelCauseFunc

	skipEmpty bool
	retry     func(err error, attempt int) (time.Duration, bool)
	instance  string        // this run's name in a fenced store
	lease     time.Duration // of a batch in flight, in a fenced store

	// Owned by the goroutine in Run: the partitions whose positions a
	// saved checkpoint holds, and those the outputs have seen.
	stored, handed seen
	current        int64 // the batch running, for the log of an abandoned one

	graphs     []*graph         // DStream pipelines, one per input with a Source
	stateStore StateStore       // where their state goes, when they keep some
	state      *StateCheckpoint // their state after the last batch marked done
}

// seen holds, per input, the partitions whose position a party (the
// checkpoint, the outputs) has taken in.
type seen []map[string]bool

func newSeen(inputs int) seen {
	s := make(seen, inputs)
	for i := range s {
		s[i] = map[string]bool{}
	}
	return s
}

// lacks reports whether input i's ranges hold a position the party has not
// taken in: one that moves (the range reads, or resets its position), or
// one of a partition it has not seen.
func (s seen) lacks(i int, ranges []Range) bool {
	return slices.ContainsFunc(ranges, func(r Range) bool { return r.moves() || !s[i][r.Partition] })
}

func (s seen) add(i int, ranges []Range) {
	for _, r := range ranges {
		s[i][r.Partition] = true
	}
}

// ContextOptions holds the optional settings of NewContext; nil means
// defaults.
type ContextOptions struct {
	// Logger gets the engine's warnings and, unless NoBatchLog, one line per
	// batch. Nil means slog.Default().
	Logger *slog.Logger
	// NoBatchLog turns off the default listener's line per batch.
	NoBatchLog bool
	// SkipEmptyBatches runs no output for a batch with nothing to read,
	// so an idle stream does not, say, commit an empty transaction every
	// interval. Listeners still hear of the batch. A batch that holds a
	// position no output has seen yet (the first batch, a new partition,
	// a reset) runs its outputs all the same, so that an output storing
	// positions stores them.
	SkipEmptyBatches bool
	// BatchLease is how long, with a FencedStore, a newer instance of the
	// job waits for this one's batch in flight once this one stops renewing
	// it, that is, once it died or was paused; a paused instance's outputs
	// learn from CheckFence that the batch is no longer theirs. 0 means
	// DefaultBatchLease.
	BatchLease time.Duration
	// Retry, when set, is asked about every failed run of a batch's
	// output (not a failed plan or checkpoint), with the number of times
	// the batch failed so far: retry says to run the output again, with
	// the same ranges, after wait, instead of ending Run with the error.
	// Listeners that implement BatchFailedListener hear of each failure.
	// A graceful Stop during the wait ends Run with the error. Nil: a
	// failed batch ends Run.
	Retry func(err error, attempt int) (wait time.Duration, retry bool)
}

// NewContext returns a Context whose batches are due every batchInterval.
func NewContext(batchInterval time.Duration, opts *ContextOptions) (*Context, error) {
	if batchInterval <= 0 {
		return nil, fmt.Errorf("streaming: batch interval %s: must be positive", batchInterval)
	}
	if opts == nil {
		opts = &ContextOptions{}
	}
	if opts.BatchLease < 0 {
		return nil, fmt.Errorf("streaming: batch lease %s: must not be negative", opts.BatchLease)
	}
	c := &Context{interval: batchInterval, log: opts.Logger, stopCh: make(chan struct{}), skipEmpty: opts.SkipEmptyBatches,
		retry: opts.Retry, instance: newInstanceID(), lease: opts.BatchLease}
	if c.lease == 0 {
		c.lease = DefaultBatchLease
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if !opts.NoBatchLog {
		c.listeners = append(c.listeners, logListener{log: c.log})
	}
	return c, nil
}

// BatchInterval is the time between batches.
func (c *Context) BatchInterval() time.Duration { return c.interval }

// Instance names this Context in a fenced checkpoint store and in its logs:
// host, process and a random part.
func (c *Context) Instance() string { return c.instance }

// Logger is the Context's logger, for inputs to warn through.
func (c *Context) Logger() *slog.Logger { return c.log }

var errRunning = errors.New("streaming: the Context is already running; add inputs and stores before Run")

// AddInput registers an input. Inputs are added before Run, in an order a
// restarted program must repeat when it uses the same checkpoint.
func (c *Context) AddInput(in Input) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return errRunning
	}
	c.inputs = append(c.inputs, in)
	return nil
}

// Checkpoint makes the stream write each batch's plan to store before its
// output runs, mark it done after, and resume from it on Run. NewDirStore
// is the default store.
func (c *Context) Checkpoint(store CheckpointStore) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return errRunning
	}
	c.store = store
	return nil
}

// AddListener registers a listener for completed batches; one that
// implements BatchFailedListener or BatchAbandonedListener hears of those
// batches too.
func (c *Context) AddListener(l Listener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, l)
}

// Stop ends Run. A graceful stop lets the running batch finish, output and
// checkpoint included; otherwise the batch is cancelled and, not being
// marked done, runs again after a restart. Stop returns at once; Run returns
// when the stream has stopped.
func (c *Context) Stop(graceful bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopping {
		c.stopping = true
		close(c.stopCh)
	}
	if !graceful && c.cancelBatch != nil {
		c.cancelBatch(errStopped)
	}
}

var errStopped = errors.New("streaming: stopped")

func (c *Context) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// Run starts the inputs, replays the checkpoint's unfinished batch if there
// is one, and runs a batch every interval until Stop (it returns nil), ctx
// ends (it returns ctx's cause), or a batch fails (it returns the error,
// and the batch is not marked done). A batch that takes longer than the
// interval delays the ones after it; the delay is in BatchInfo.
func (c *Context) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("streaming: Run called twice; a Context runs once")
	}
	c.running = true
	inputs, store := slices.Clone(c.inputs), c.store
	c.mu.Unlock()
	err := c.runInputs(ctx, inputs, store)
	c.mu.Lock()
	c.ended, c.runErr = true, err
	c.mu.Unlock()
	return err
}

func (c *Context) runInputs(ctx context.Context, inputs []Input, store CheckpointStore) error {
	if len(inputs) == 0 {
		return errors.New("streaming: no input streams; create one (eventhubs.CreateDirectStream) before Run")
	}
	err := c.run(ctx, inputs, store)
	if err != nil && c.stopped() && errors.Is(err, errStopped) {
		return nil
	}
	if err != nil && ctx.Err() != nil {
		// Cancelling the context stops at once; say so, since a program
		// that meant a graceful stop would otherwise never know.
		if c.current > 0 {
			c.log.Warn("streaming: the context ended while a batch ran: the batch was abandoned and, not marked done, runs again after a restart (Stop(true) or RunUntilSignal stop after the running batch)",
				"batch", c.current, "cause", context.Cause(ctx))
		}
		return context.Cause(ctx)
	}
	return err
}

func (c *Context) run(ctx context.Context, inputs []Input, store CheckpointStore) error {
	var ck *Checkpoint
	resume := make([]map[string]int64, len(inputs))
	c.stored, c.handed = newSeen(len(inputs)), newSeen(len(inputs))
	if store != nil {
		// A fenced store hands the job over between batches: the older
		// instance's batch in flight finishes before the sources are taken.
		if fs, ok := store.(FencedStore); ok {
			if err := c.takeOver(ctx, fs); err != nil {
				return err
			}
		}
		// Take the sources before reading where they stand: a batch another
		// instance completes meanwhile is then seen done, not run again.
		for i, in := range inputs {
			if cl, ok := in.(Claimer); ok {
				if err := cl.Claim(ctx); err != nil {
					return fmt.Errorf("streaming: claiming input %d (%s): %w", i, in.Identity(), err)
				}
			}
		}
		var err error
		if ck, err = store.Load(ctx); err != nil {
			return err
		}
		if ck != nil {
			if resume, err = matchInputs(ck, inputs); err != nil {
				return err
			}
			for i := range ck.Inputs {
				c.stored.add(i, ck.Inputs[i].Ranges)
			}
		}
	}
	if err := c.restoreState(ctx, store, ck); err != nil {
		return err
	}
	for i, in := range inputs {
		if err := in.Start(ctx, resume[i]); err != nil {
			return fmt.Errorf("streaming: starting input %d (%s): %w", i, in.Identity(), err)
		}
		defer in.Stop()
	}

	number := int64(1)
	if ck != nil {
		number = ck.Batch + 1
		if !ck.Done {
			c.log.Info("streaming: running again the batch that did not finish before the restart", "batch", ck.Batch)
			replay := make([][]Range, len(inputs))
			for i := range inputs {
				replay[i] = ck.Inputs[i].Ranges
			}
			if err := c.runBatch(ctx, inputs, store, ck.Batch, ck.Time, replay); err != nil {
				return err
			}
		}
	}
	due := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(due))
		select {
		case <-timer.C:
		case <-c.stopCh:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		// runBatch refuses to start once Stop was called (under the lock
		// Stop takes), whichever case the select picked.
		if err := c.runBatch(ctx, inputs, store, number, due, nil); err != nil {
			return err
		}
		number++
		due = due.Add(c.interval)
	}
}

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

// failure is info as a failure record.
func failure(info BatchInfo, err error, attempt int, retrying bool, begin time.Time) BatchFailure {
	return BatchFailure{Number: info.Number, Time: info.Time, Replay: info.Replay, Ranges: slices.Clone(info.Ranges),
		Lag: slices.Clone(info.Lag), Err: err, Attempt: attempt, Retrying: retrying,
		SchedulingDelay: info.SchedulingDelay, ProcessingTime: time.Since(begin)}
}

func (c *Context) listenersNow() []Listener {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.listeners)
}

// tellFailed tells the listeners that hear of failed batches.
func (c *Context) tellFailed(info BatchInfo, err error, attempt int, retrying bool, begin time.Time) {
	f := failure(info, err, attempt, retrying, begin)
	for _, l := range c.listenersNow() {
		if fl, ok := l.(BatchFailedListener); ok {
			fl.OnBatchFailed(f)
		}
	}
}

// tellAbandoned tells the listeners that hear of abandoned batches.
func (c *Context) tellAbandoned(info BatchInfo, err error, begin time.Time) {
	f := failure(info, err, 1, false, begin)
	for _, l := range c.listenersNow() {
		if al, ok := l.(BatchAbandonedListener); ok {
			al.OnBatchAbandoned(f)
		}
	}
}
