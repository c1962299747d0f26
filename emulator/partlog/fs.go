package partlog

import (
	"io"
	"os"
)

// fileSystem is what the log needs from the operating system. Tests put a
// file system behind it that forgets whatever was not synced, to check what
// survives a crash at every step.
type fileSystem interface {
	// OpenFile opens or creates path with the os.O_* flags in flag.
	OpenFile(path string, flag int) (file, error)
	Remove(path string) error
	Rename(from, to string) error
	MkdirAll(dir string) error
	// Files lists the names of the regular files in dir.
	Files(dir string) ([]string, error)
	// SyncDir makes the creations, removals and renames in dir durable.
	SyncDir(dir string) error
}

type file interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
	Name() string
}

type osFS struct{}

func (osFS) OpenFile(path string, flag int) (file, error) {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(path string) error     { return os.Remove(path) }
func (osFS) Rename(from, to string) error { return os.Rename(from, to) }
func (osFS) MkdirAll(dir string) error    { return os.MkdirAll(dir, 0o755) }

func (osFS) Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
