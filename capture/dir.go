package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/ehstream/ehstream/durable"
)

// Dir is a Destination in a local (or mounted) directory. A file grows in
// its partition's _tmp directory, {Namespace}/{EventHub}/{PartitionId}/_tmp,
// with a name ending .tmp, then is fsynced and renamed into place, and the
// directory it lands in is fsynced: the rename is the one step that makes
// it visible. A _tmp directory rather than a hidden name beside the final
// file because Spark and Hadoop skip directories starting with '_', no glob
// of the layout's depth reaches into it, the .tmp ending keeps a recursive
// *.avro or *.parquet glob out, and a crashed run's leftovers are found by
// listing one directory per partition, not the partition's history.
type Dir struct {
	root string
}

// tmpDir is the directory, inside a partition's, where files grow.
const tmpDir = "_tmp"

// NewDir is the directory root as a Destination. It must exist and be
// writable: the error says which it is not, and the cure.
func NewDir(root string) (*Dir, error) {
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("capture: directory %s does not exist: create it (mkdir -p %s) or name another", root, root)
	case err != nil:
		return nil, fmt.Errorf("capture: directory %s: %w", root, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("capture: %s is not a directory: name a directory for the files", root)
	}
	probe, err := os.CreateTemp(root, ".ehstream-probe-*")
	if err != nil {
		return nil, fmt.Errorf("capture: directory %s is not writable (%w): give this user write permission on it, or name another", root, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Dir{root: root}, nil
}

func (d *Dir) String() string { return d.root }

func (d *Dir) local(p string) string { return filepath.Join(d.root, filepath.FromSlash(p)) }

// Begin creates the file in the partition's _tmp directory.
func (d *Dir) Begin(_ context.Context, dir string) (PendingFile, error) {
	tmp := d.local(path.Join(dir, tmpDir))
	if err := durable.MkdirAll(tmp); err != nil {
		return nil, fmt.Errorf("capture: %s: creating %s: %w", d.root, tmp, err)
	}
	f, err := createLocal(tmp, "file-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("capture: %s: beginning a file in %s: %w", d.root, tmp, err)
	}
	return &dirFile{localFile: f, d: d}, nil
}

// dirFile is a file growing in a _tmp directory.
type dirFile struct {
	localFile
	d *Dir
}

// localFile is a file growing on local disk, through a buffer.
type localFile struct {
	f *os.File
	w *bufio.Writer
}

func createLocal(dir, pattern string) (localFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return localFile{}, err
	}
	return localFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (l localFile) Write(p []byte) (int, error) { return l.w.Write(p) }

// Abandon closes and removes the file.
func (l localFile) Abandon() error {
	l.f.Close()
	return os.Remove(l.f.Name())
}

// Finish flushes and fsyncs the file, renames it to p, and fsyncs the
// directory it now lies in, which holds the rename.
func (f *dirFile) Finish(_ context.Context, p string) error {
	final := f.d.local(p)
	err := f.w.Flush()
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.MkdirAll(filepath.Dir(final))
	}
	if err == nil {
		err = os.Rename(f.f.Name(), final)
	}
	if err == nil {
		err = durable.SyncDir(filepath.Dir(final))
	}
	if err != nil {
		os.Remove(f.f.Name())
		return fmt.Errorf("capture: finishing %s in %s: %w", p, f.d.root, err)
	}
	return nil
}

// Last descends the partition's newest time directories (lastFile).
func (d *Dir) Last(ctx context.Context, dir string) (string, error) {
	last, err := lastFile(ctx, dir, d.list, 0)
	if err != nil {
		return "", fmt.Errorf("capture: %s: finding the last file of %s: %w", d.root, dir, err)
	}
	return last, nil
}

// list reads one directory; a missing one is empty.
func (d *Dir) list(_ context.Context, dir string) (dirs, files []string, err error) {
	entries, err := os.ReadDir(d.local(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	for _, e := range entries {
		switch {
		case hidden(e.Name()):
		case e.IsDir():
			dirs = append(dirs, e.Name())
		default:
			files = append(files, e.Name())
		}
	}
	return dirs, files, err
}

// List walks dir, passing over hidden names (_tmp among them).
func (d *Dir) List(ctx context.Context, dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(d.local(dir), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == d.local(dir) {
				return fs.SkipAll
			}
			return err
		}
		if hidden(e.Name()) && p != d.local(dir) {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !e.IsDir() {
			rel, _ := filepath.Rel(d.root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("capture: %s: listing %s: %w", d.root, dir, err)
	}
	slices.Sort(out)
	return out, nil
}

// RemoveLeftovers removes the partition's _tmp directory and what it
// holds.
func (d *Dir) RemoveLeftovers(_ context.Context, dir string) (int, error) {
	tmp := d.local(path.Join(dir, tmpDir))
	entries, err := os.ReadDir(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err == nil {
		err = os.RemoveAll(tmp)
	}
	if err != nil {
		return 0, fmt.Errorf("capture: %s: removing the unfinished files in %s: %w", d.root, tmp, err)
	}
	return len(entries), nil
}

var _ Destination = (*Dir)(nil)
