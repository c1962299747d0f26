package offsets

import "github.com/ehstream/ehstream/streaming"

// AlreadyCommitted reports whether the mismatch is exactly this batch
// committed before: the stored position is the batch's end. A replayed
// batch (a crash between the transaction's commit and the stream's
// done-mark) then counts as done (streaming.AlreadyCommitted). A stored
// position anywhere else, or a batch that moved another partition's
// position before this one's mismatch, is another batch's doing, and stays
// an error.
func (e *MismatchError) AlreadyCommitted() bool {
	return !e.moved && e.Stored == e.Until && e.Stored != e.Expected
}

var _ streaming.AlreadyCommitted = (*MismatchError)(nil)
