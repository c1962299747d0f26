package streaming

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Range is what one batch reads of one partition: sequence numbers
// [From, Until).
type Range struct {
	Source    string `json:"source"` // what the input calls the stream, e.g. an event hub's name
	Partition string `json:"partition"`
	From      int64  `json:"from"`
	Until     int64  `json:"until"`
	// ResetFrom, when not 0, is where the partition's previous range
	// ended: the source's numbering restarted below it (an event hub
	// deleted and created again) and the stream went on from the first
	// event of the new numbering. Positions move from ResetFrom to Until.
	ResetFrom int64 `json:"resetFrom,omitempty"`
}

// Count is the number of sequence numbers in the range.
func (r Range) Count() int64 { return max(r.Until-r.From, 0) }

// moves reports whether the range changes its partition's position: it
// reads something, or resets the position.
func (r Range) moves() bool { return r.Count() > 0 || r.ResetFrom != 0 }

func (r Range) String() string {
	s := fmt.Sprintf("%s %s %d %d", r.Source, r.Partition, r.From, r.Until)
	if r.ResetFrom != 0 {
		s += fmt.Sprintf(" (reset from %d)", r.ResetFrom)
	}
	return s
}

// Identity says what an input reads, e.g. namespace, event hub and
// consumer group. A checkpoint stores it and is refused by an input whose
// identity differs; it holds nothing of the program, so a changed program
// still recovers.
type Identity map[string]string

func (id Identity) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(id)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, id[k])
	}
	return b.String()
}

// Input is a source of batches. The Context calls Start once, then Plan and
// Run for each batch, one at a time, and Stop at the end.
type Input interface {
	// Identity is stored with every checkpoint of the input.
	Identity() Identity
	// Start prepares the first batch. resume holds, per partition, the
	// sequence number a checkpoint says to continue from; partitions not in
	// it (all of them without a checkpoint) start where the input's
	// configuration says.
	Start(ctx context.Context, resume map[string]int64) error
	// Plan decides the ranges of the next batch, each starting where the
	// previous batch's range of the partition ended.
	Plan(ctx context.Context, batchTime time.Time) (Plan, error)
	// Run reads the batch's ranges (planned, or replayed from a checkpoint)
	// and runs the outputs. A nil error means the output is done with them.
	// A failed batch may be run again with the same b (ContextOptions.Retry):
	// an input with several outputs runs each through b.RunOutput, so that
	// only those that did not complete run again. An input that does not
	// is taken for one output.
	Run(ctx context.Context, b *Batch) (Result, error)
	// Stop releases what Start took.
	Stop()
}

// Claimer is an Input that reads its source exclusively, so that another
// instance of the stream stops at its next read. A Context with a
// checkpoint calls Claim before it loads the checkpoint, then Start: the
// other instance can then finish at most the batch it is running, which
// the checkpoint shows done, or not, and runs again.
type Claimer interface {
	Claim(ctx context.Context) error
}

// Plan is an input's part of a batch.
type Plan struct {
	Ranges []Range
	// Lag[i] is how many events of Ranges[i]'s partition existed past its
	// Until when the batch was planned.
	Lag []int64
	// Rate is the rate, in events per second across the input's
	// partitions, that the input's backpressure allowed the batch; 0 when
	// nothing but its fixed per-partition maximums limited it.
	Rate int64
}

// Batch is what an input runs.
type Batch struct {
	Number int64     // counts from 1; a replayed batch keeps its number
	Time   time.Time // when it was due
	Ranges []Range   // this input's ranges
	Replay bool      // it ran before and did not finish

	outs *outputs // the outputs its attempts ran (RunOutput)
}

// Result is what running an input's part of a batch read.
type Result struct {
	Events  int64 // events handed to the output
	Skipped int64 // events found lost (retention) and skipped
	// RangeSkipped[i], when set, is how many of Skipped were the batch's
	// Ranges[i]'s.
	RangeSkipped []int64
}

// ErrReplan, wrapped in the error an input's Run returns, abandons the
// batch without failing the stream: the input found part of its plan stale
// (another replica of the job moved a position) and plans again from where
// the batch started. The batch is not marked done; the next one has a new
// number.
var ErrReplan = errors.New("streaming: the batch is abandoned and planned again")
