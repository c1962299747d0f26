package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ehstream/ehstream/durable"
)

// DirStore keeps the checkpoint as a JSON file in a directory. Each Save
// writes a temporary file, syncs it, renames it over the old one and syncs
// the directory, so a crash leaves the old checkpoint or the new one.
type DirStore struct {
	dir string
}

const checkpointFile = "checkpoint.json"

// NewDirStore returns the store in dir, creating the directory if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("streaming: checkpoint directory is empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("streaming: checkpoint directory: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

// Path is the checkpoint file's path.
func (s *DirStore) Path() string { return filepath.Join(s.dir, checkpointFile) }

// Load reads the checkpoint file; it returns nil when there is none and an
// error naming the file when it cannot be read, never a silent restart.
func (s *DirStore) Load(ctx context.Context) (*Checkpoint, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("streaming: reading checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, &CheckpointError{Message: fmt.Sprintf("%s is not a checkpoint (%v); move it away to start over", s.Path(), err)}
	}
	return &c, nil
}

// Save replaces the checkpoint file atomically and durably.
func (s *DirStore) Save(ctx context.Context, c *Checkpoint) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return s.replace(checkpointFile, "checkpoint", append(b, '\n'))
}

// replace writes name atomically and durably: a temporary file, synced,
// renamed over the old one, and the directory synced. what names the file
// in errors.
func (s *DirStore) replace(name, what string, b []byte) error {
	if err := durable.WriteFile(filepath.Join(s.dir, name), b); err != nil {
		return fmt.Errorf("streaming: writing %s: %w", what, err)
	}
	return nil
}
