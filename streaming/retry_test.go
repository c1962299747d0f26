package streaming

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// retryFew retries any failed batch, three times at most.
func retryFew(err error, attempt int) (time.Duration, bool) { return time.Millisecond, attempt < 4 }

// committer is a transactional output: a batch it committed once it
// refuses again, saying so, as offsets.MismatchError does.
type committer struct {
	mu        sync.Mutex
	committed map[int64]int
}

func (c *committer) output(ctx context.Context, b *BatchData[item]) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.committed[b.Number()] > 0 {
		return &committedError{batch: b.Number()}
	}
	c.committed[b.Number()]++
	return nil
}

// failOnce makes an output that fails the first run of each batch in at.
func failOnce(at ...int64) func(ctx context.Context, b *BatchData[item]) error {
	var mu sync.Mutex
	failed := map[int64]bool{}
	return func(ctx context.Context, b *BatchData[item]) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed[b.Number()] && slices.Contains(at, b.Number()) {
			failed[b.Number()] = true
			return errSinkDown
		}
		return nil
	}
}

// A batch retried after its last output failed runs that output again,
// not those that completed: the transactional one is not asked to commit
// the batch twice (it would refuse, and the batch fail at every retry).
// Windows and state, undone with the failed run and redone by the retry,
// give the results of a run without failures.
func TestRetryRunsOnlyTheTypedOutputsThatDidNotComplete(t *testing.T) {
	retriedMatchOracle(t, pipeline, oracle)
}

// retriedMatchOracle runs build's pipeline with an output that fails
// batches 3, 4 and 9 once, and a transactional one, and compares what the
// outputs saw with want's oracle.
func retriedMatchOracle(t *testing.T, build func(testing.TB, *Context, DStream[item], params, *recorder),
	want func([][][]item, params) map[string]map[int64][]string) {
	t.Helper()
	r := rand.New(rand.NewPCG(21, 1))
	script := randomScript(r, 14, 3, 4)
	p := params{length: 3, slide: 2, timeout: 2}
	ssc, err := NewContext(testInterval, &ContextOptions{NoBatchLog: true, Retry: retryFew})
	if err != nil {
		t.Fatal(err)
	}
	if err := ssc.Checkpoint(newMemStore()); err != nil {
		t.Fatal(err)
	}
	in := newScriptInput(t, ssc, script)
	tx := &committer{committed: map[int64]int{}}
	ForeachBatch(in.src.Stream(), tx.output)
	rec := newRecorder()
	build(t, ssc, in.src.Stream(), p, rec)
	ForeachBatch(in.src.Stream(), failOnce(3, 4, 9))
	if err := runUntil(t, ssc, int64(len(script))); err != nil {
		t.Fatalf("Run = %v, want nil: each failed batch completes on its second run", err)
	}
	for n := int64(1); n <= int64(len(script)); n++ {
		if tx.committed[n] != 1 {
			t.Errorf("batch %d committed %d times, want once", n, tx.committed[n])
		}
	}
	compare(t, "retried batches 3, 4 and 9", rec.seen, want(script, p))
}

// With two inputs, a retry of the second's outputs leaves the state the
// first's batch made: it completed.
func TestRetryKeepsTheStateOfInputsThatCompleted(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 2))
	scripts := [][][][]item{randomScript(r, 8, 2, 3), randomScript(r, 8, 2, 3)}
	p := params{length: 2, slide: 1, timeout: 0}
	ssc, err := NewContext(testInterval, &ContextOptions{NoBatchLog: true, Retry: retryFew})
	if err != nil {
		t.Fatal(err)
	}
	if err := ssc.Checkpoint(newMemStore()); err != nil {
		t.Fatal(err)
	}
	var recs []*recorder
	for i, script := range scripts {
		in := newScriptInput(t, ssc, script)
		// First, so that a run of the outputs again fails the batch.
		ForeachBatch(in.src.Stream(), (&committer{committed: map[int64]int{}}).output)
		rec := newRecorder()
		pipeline(t, ssc, in.src.Stream(), p, rec)
		recs = append(recs, rec)
		if i == 1 {
			ForeachBatch(in.src.Stream(), failOnce(2, 5))
		}
	}
	if err := runUntil(t, ssc, 8); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	for i, rec := range recs {
		compare(t, fmt.Sprint("input ", i), rec.seen, oracle(scripts[i], p))
	}
}
