package streaming

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Checkpoint is a stream's position: the last batch whose plan was written,
// and whether its output finished. It holds offsets and the inputs'
// identities, never anything of the program.
type Checkpoint struct {
	Version int               `json:"version"`
	Batch   int64             `json:"batch"`
	Time    time.Time         `json:"time"`
	Done    bool              `json:"done"` // the output returned nil for every input
	Inputs  []InputCheckpoint `json:"inputs"`
	// Instance is the running Context that wrote the checkpoint and Lease
	// how long its unfinished batch counts as running; both are written to
	// a FencedStore only, where a newer instance waits for that batch
	// rather than run it too.
	Instance string    `json:"instance,omitempty"`
	Lease    time.Time `json:"lease,omitzero"`
	// State is the state of the stateful streams (windows, MapWithState)
	// after the last batch marked done: Batch's when Done, the one before
	// otherwise. Only checkpoints with state are written as version 2.
	State *StateCheckpoint `json:"state,omitempty"`
}

// InputCheckpoint is one input's part of a Checkpoint.
type InputCheckpoint struct {
	Identity Identity `json:"identity"`
	Ranges   []Range  `json:"ranges"`
}

// checkpointVersion is the format written; older ones are read, newer refused.
// A checkpoint with state is version stateCheckpointVersion, so that a
// build that cannot restore state refuses it rather than drop the state.
const (
	checkpointVersion      = 1
	stateCheckpointVersion = 2
)

// CheckpointStore keeps a stream's checkpoint. Save must replace the stored
// checkpoint atomically and durably: after a crash Load returns the old one
// or the new one, whole.
type CheckpointStore interface {
	// Load returns the stored checkpoint, or nil when there is none.
	Load(ctx context.Context) (*Checkpoint, error)
	Save(ctx context.Context, c *Checkpoint) error
}

// CheckpointError is a checkpoint that cannot be used by this stream.
type CheckpointError struct {
	Message string
}

func (e *CheckpointError) Error() string { return "streaming: checkpoint: " + e.Message }

// IdentityMatcher is an Input whose identity is compared otherwise than
// exactly, for example one whose names are case-insensitive, so that a
// checkpoint written under another spelling still resumes.
type IdentityMatcher interface {
	// SameIdentity reports whether a checkpoint's stored identity is the
	// input's own.
	SameIdentity(stored Identity) bool
}

// matchInputs checks that a loaded checkpoint was made by inputs with the
// same identities, in the same order, and returns each input's position to
// resume from: the Until of its ranges.
func matchInputs(c *Checkpoint, inputs []Input) ([]map[string]int64, error) {
	if c.Version > stateCheckpointVersion || c.Version < 1 {
		return nil, &CheckpointError{Message: fmt.Sprintf("format version %d; this build reads versions 1 to %d", c.Version, stateCheckpointVersion)}
	}
	if len(c.Inputs) != len(inputs) {
		return nil, &CheckpointError{Message: fmt.Sprintf("it was made by a program with %d input stream(s), this one has %d; use a new checkpoint store, or the same streams", len(c.Inputs), len(inputs))}
	}
	resume := make([]map[string]int64, len(inputs))
	for i, in := range inputs {
		want, got := in.Identity(), c.Inputs[i].Identity
		same := maps.Equal(want, got)
		if m, ok := in.(IdentityMatcher); ok {
			same = m.SameIdentity(got)
		}
		if !same {
			return nil, &CheckpointError{Message: fmt.Sprintf("input %d: the checkpoint was made reading %s, but this stream reads %s (%s); "+
				"if they name the same thing (another host name of one namespace, say), run the stream with the checkpoint's names; "+
				"for another hub or consumer group, use a new checkpoint store", i, got, want, differences(got, want))}
		}
		resume[i] = map[string]int64{}
		for _, r := range c.Inputs[i].Ranges {
			if r.From < 0 || r.Until < r.From {
				return nil, &CheckpointError{Message: fmt.Sprintf("input %d: range %s is not a range", i, r)}
			}
			if _, dup := resume[i][r.Partition]; dup {
				return nil, &CheckpointError{Message: fmt.Sprintf("input %d: partition %q appears twice", i, r.Partition)}
			}
			resume[i][r.Partition] = r.Until
		}
	}
	return resume, nil
}

// differences says in which keys two identities differ.
func differences(stored, own Identity) string {
	keys := maps.Clone(stored)
	maps.Copy(keys, own)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if stored[k] != own[k] {
			diffs = append(diffs, fmt.Sprintf("%s %q, now %q", k, stored[k], own[k]))
		}
	}
	return strings.Join(diffs, "; ")
}
