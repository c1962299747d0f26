package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// A DirStore is fenced with two more files: writer.json names the instance
// that fenced it, and checkpoint.lock, locked with the system's file lock,
// makes "check the writer, then write" one step across processes.
const (
	writerFile = "writer.json"
	lockFile   = "checkpoint.lock"
)

type writerRecord struct {
	Instance string    `json:"instance"`
	Since    time.Time `json:"since"`
}

// Fence makes instance the directory's writer (FencedStore).
func (s *DirStore) Fence(ctx context.Context, instance string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	b, err := json.Marshal(writerRecord{Instance: instance, Since: time.Now().UTC()})
	if err != nil {
		return err
	}
	return s.replace(writerFile, "checkpoint", append(b, '\n'))
}

// SaveAs is Save on behalf of instance, refused once another instance
// fenced the directory, except for instance's own batch in flight while
// its lease lasts (FencedStore). A directory never fenced accepts every
// instance.
func (s *DirStore) SaveAs(ctx context.Context, instance string, c *Checkpoint) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	writer, err := s.writer()
	if err != nil {
		return err
	}
	if writer.Instance != "" && writer.Instance != instance {
		cur, err := s.Load(ctx)
		if err != nil {
			return err
		}
		// A lease that ran out lets the newer instance run the batch (it
		// may have decided to): refused too, so that the older one cannot
		// renew or finish the batch under it.
		if cur == nil || cur.Done || cur.Instance != instance || cur.Batch != c.Batch ||
			!cur.Lease.IsZero() && !time.Now().Before(cur.Lease) {
			return &FencedError{Instance: instance, Writer: writer.Instance, Store: s.dir, Since: writer.Since}
		}
	}
	return s.Save(ctx, c)
}

func (s *DirStore) writer() (writerRecord, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, writerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return writerRecord{}, nil
	}
	if err != nil {
		return writerRecord{}, fmt.Errorf("streaming: reading the checkpoint's writer: %w", err)
	}
	var w writerRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return writerRecord{}, &CheckpointError{Message: fmt.Sprintf("%s is not a writer record (%v); move it away if no instance of the job runs", filepath.Join(s.dir, writerFile), err)}
	}
	return w, nil
}

// lock takes the directory's file lock, waiting for other processes (and
// other DirStores of this one) to release it.
func (s *DirStore) lock(ctx context.Context) (unlock func(), err error) {
	l := flock.New(filepath.Join(s.dir, lockFile))
	ok, err := l.TryLockContext(ctx, 2*time.Millisecond)
	if err == nil && !ok {
		err = context.Cause(ctx)
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("streaming: locking the checkpoint directory %s: %w", s.dir, err)
	}
	return func() { l.Close() }, nil
}
