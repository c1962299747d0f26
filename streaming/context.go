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
	batchLog *BatchReporter // the default listener, unless NoBatchLog

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
	// Logger gets the engine's warnings and, unless NoBatchLog, the batch
	// log: a line for each batch that read events (LogBatch) and, while
	// the batches read nothing, one line at most every DefaultIdleEvery
	// counting them (LogIdle), and one more when Run returns (a
	// BatchReporter). Nil means slog.Default().
	Logger *slog.Logger
	// NoBatchLog turns off the default batch log.
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
		c.batchLog = NewBatchLog(c.log, nil)
		c.listeners = append(c.listeners, c.batchLog)
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

// HasCheckpoint says whether Checkpoint gave the Context a store: an
// output whose positions live elsewhere may refuse to run with one.
func (c *Context) HasCheckpoint() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store != nil
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
	if c.batchLog != nil {
		c.batchLog.Flush(time.Now())
	}
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

// run runs the stream: it resumes from the checkpoint, starts the inputs,
// replays the checkpoint's unfinished batch, then runs a batch every
// interval.
func (c *Context) run(ctx context.Context, inputs []Input, store CheckpointStore) error {
	c.stored, c.handed = newSeen(len(inputs)), newSeen(len(inputs))
	ck, resume, err := c.resume(ctx, inputs, store)
	if err != nil {
		return err
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
	return c.runEveryInterval(ctx, inputs, store, number)
}

// resume takes over store and the inputs' sources, and loads the
// checkpoint: it returns the checkpoint (nil without one) and, per input,
// the positions its partitions go on from.
func (c *Context) resume(ctx context.Context, inputs []Input, store CheckpointStore) (*Checkpoint, []map[string]int64, error) {
	resume := make([]map[string]int64, len(inputs))
	if store == nil {
		return nil, resume, nil
	}
	// A fenced store hands the job over between batches: the older
	// instance's batch in flight finishes before the sources are taken.
	if fs, ok := store.(FencedStore); ok {
		if err := c.takeOver(ctx, fs); err != nil {
			return nil, nil, err
		}
	}
	// Take the sources before reading where they stand: a batch another
	// instance completes meanwhile is then seen done, not run again.
	for i, in := range inputs {
		if cl, ok := in.(Claimer); ok {
			if err := cl.Claim(ctx); err != nil {
				return nil, nil, fmt.Errorf("streaming: claiming input %d (%s): %w", i, in.Identity(), err)
			}
		}
	}
	ck, err := store.Load(ctx)
	if err != nil || ck == nil {
		return nil, resume, err
	}
	if resume, err = matchInputs(ck, inputs); err != nil {
		return nil, nil, err
	}
	for i := range ck.Inputs {
		c.stored.add(i, ck.Inputs[i].Ranges)
	}
	return ck, resume, nil
}

// runEveryInterval runs batch number, and those after it, every interval
// from now until Stop, the end of ctx or a failed batch.
func (c *Context) runEveryInterval(ctx context.Context, inputs []Input, store CheckpointStore, number int64) error {
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
