package streaming

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A DirStore keeps state files beside checkpoint.json, as state-*.full and
// state-*.delta, named by batch and instance so that two instances of a
// job never write the same file.

const statePrefix = "state-"

func stateName(name string) error {
	if !strings.HasPrefix(name, statePrefix) || strings.ContainsAny(name, `/\`) || name != filepath.Base(name) {
		return fmt.Errorf("streaming: %q is not a state file's name", name)
	}
	return nil
}

// WriteState writes a state file durably: a temporary file, synced, renamed
// and the directory synced, before the checkpoint that names it
// (StateStore).
func (s *DirStore) WriteState(ctx context.Context, name string, b []byte) error {
	if err := stateName(name); err != nil {
		return err
	}
	return s.replace(name, "state", b)
}

// ReadState reads a state file (StateStore).
func (s *DirStore) ReadState(ctx context.Context, name string) ([]byte, error) {
	if err := stateName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &CheckpointError{Message: fmt.Sprintf("the checkpoint names state file %s, which %s lacks; was it removed by hand?", name, s.dir)}
	}
	return b, err
}

// RemoveState removes the state files older than the oldest of keep that
// keep does not name (StateStore). Newer ones may be another instance's,
// about to be named by its checkpoint.
func (s *DirStore) RemoveState(ctx context.Context, keep []string) error {
	if len(keep) == 0 {
		return nil
	}
	oldest := keep[0][:len(statePrefix)+12] // state-NNNNNNNNNNNN: batch numbers sort as text
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, statePrefix) || strings.HasSuffix(n, ".tmp") || len(n) < len(oldest) || n[:len(oldest)] >= oldest {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ StateStore = (*DirStore)(nil)
