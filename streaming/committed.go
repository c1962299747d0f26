package streaming

import "errors"

// AlreadyCommitted is implemented by an output's error that says the
// batch's output had committed before: a transactional store found the
// batch's positions stored already (offsets.MismatchError when the stored
// position is the batch's end). A replayed batch whose output fails so is
// counted as done: the crash came between the output's commit and the
// batch's done-mark, and the state computed again from the checkpoint is
// the state that output saw.
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
