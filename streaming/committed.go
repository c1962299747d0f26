package streaming

import "errors"

// AlreadyCommitted is implemented by an output's error that says the
// batch's output had committed before: a transactional store found the
// batch's positions stored already (offsets.MismatchError when the stored
// position is the batch's end). An output that fails so counts as done
// where it may have committed the batch itself: in a replayed batch (the
// crash came between the output's commit and the batch's done-mark, and
// the state computed again from the checkpoint is the state that output
// saw), and in a retry after it failed (its commit landed, the reply was
// lost). Each output of a batch is judged on its own (Batch.RunOutput):
// the others still run.
type AlreadyCommitted interface {
	error
	// AlreadyCommitted reports whether exactly this batch committed.
	AlreadyCommitted() bool
}

// IsAlreadyCommitted reports whether err, or an error it wraps, says the
// batch had committed before.
func IsAlreadyCommitted(err error) bool {
	var ac AlreadyCommitted
	return errors.As(err, &ac) && ac.AlreadyCommitted()
}
