package streaming

import (
	"log/slog"
	"slices"
	"sync"
	"time"
)

// outputs is what a batch's attempts did with its outputs. A Batch and
// its copies share it, so that a retry of the batch (ContextOptions.Retry)
// knows which outputs an earlier attempt completed.
type outputs struct {
	mu    sync.Mutex
	log   *slog.Logger
	tried map[outputID]bool // ran in an attempt, whatever came of it
	done  map[outputID]bool // returned nil, or said it had committed
	// fed holds the outputs that fed a DStream source: they run in every
	// attempt, since the attempt before undid the state they ticked.
	fed     map[outputID]bool
	running *outputID // the output running now, if any, for Source.Feed to note
	// took is the time each output ran, over the batch's attempts: the
	// listeners' BatchInfo.Outputs.
	took map[outputID]time.Duration
	// stored holds the outputs that took the batch's state records to
	// store (BatchData.StateRecords), over its attempts: a retry does not
	// run again the one that stored them.
	stored map[outputID]bool
}

// outputID names one output of a batch: the input's i-th (RunOutput), or
// the i-th ForeachBatch of its DStream pipeline.
type outputID struct {
	typed bool
	i     int
}

func newOutputs(log *slog.Logger) *outputs {
	return &outputs{log: log, tried: map[outputID]bool{}, done: map[outputID]bool{}, fed: map[outputID]bool{}, took: map[outputID]time.Duration{}}
}

// progress is b's record of its outputs, made on first use for a Batch
// that no Context made.
func (b *Batch) progress() *outputs {
	if b.outs == nil {
		b.outs = newOutputs(slog.Default())
	}
	return b.outs
}

// RunOutput runs run, the input's output number i (counting from 0), for
// the batch, unless an earlier attempt of the batch completed it. An input
// with several outputs runs each through RunOutput, one at a time, so
// that a retried batch runs again only those that did not complete, and an
// output that committed is never asked to commit the batch twice.
//
// An output's error that says the batch had committed before
// (AlreadyCommitted) counts as done when the output may indeed have
// committed it: in a replayed batch (the crash came between its commit and
// the batch's done-mark) or in a retry after it failed (its commit landed
// but the reply was lost). In the first run of a new batch it stays an
// error: another instance of the job committed the batch.
func (b *Batch) RunOutput(i int, run func() error) error {
	return b.runOutput(outputID{i: i}, run)
}

func (b *Batch) runOutput(id outputID, run func() error) error {
	p := b.progress()
	p.mu.Lock()
	if p.done[id] && !p.fed[id] {
		p.mu.Unlock()
		return nil
	}
	again := b.Replay || p.tried[id]
	p.tried[id] = true
	outer := p.running
	p.running = &id
	p.mu.Unlock()
	began := time.Now()
	err := run()
	p.mu.Lock()
	p.running = outer
	p.took[id] += time.Since(began)
	p.mu.Unlock()
	if err != nil && again && IsAlreadyCommitted(err) {
		what := "retried"
		if b.Replay {
			what = "replayed"
		}
		p.log.Info("streaming: the "+what+" batch's output had committed before; counting it done",
			"batch", b.Number, "output", id.i+1, "typed", id.typed, "reason", err)
		err = nil
	}
	if err == nil {
		p.mu.Lock()
		p.done[id] = true
		p.mu.Unlock()
	}
	return err
}

// noteFed records that the output running now, if any, fed a DStream
// source that keeps state.
func (b *Batch) noteFed() {
	p := b.progress()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running != nil {
		p.fed[*p.running] = true
	}
}

// tracked reports whether the input ran its outputs through RunOutput or a
// DStream pipeline: then each output's error was judged on its own.
func (b *Batch) tracked() bool {
	p := b.progress()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tried) > 0
}

// times is the time each output of input number input ran in the batch,
// the input's own outputs (RunOutput) first, then its pipeline's, each in
// its order.
func (b *Batch) times(input int) []OutputTime {
	p := b.progress()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]OutputTime, 0, len(p.took))
	for id, took := range p.took {
		out = append(out, OutputTime{Input: input, Output: id.i, Typed: id.typed, Took: took})
	}
	slices.SortFunc(out, func(a, b OutputTime) int {
		if a.Typed != b.Typed {
			if a.Typed {
				return 1
			}
			return -1
		}
		return a.Output - b.Output
	})
	return out
}

// noteStateStored records that the running output took the batch's state
// records to store.
func (b *Batch) noteStateStored() {
	p := b.progress()
	p.mu.Lock()
	defer p.mu.Unlock()
	id := outputID{i: -1}
	if p.running != nil {
		id = *p.running
	}
	if p.stored == nil {
		p.stored = map[outputID]bool{}
	}
	p.stored[id] = true
}

// stateStorers is how many outputs took the batch's state records.
func (b *Batch) stateStorers() int {
	p := b.progress()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stored)
}
