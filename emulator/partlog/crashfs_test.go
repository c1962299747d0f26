package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
)

// crashFS is a file system in memory that keeps, besides what a process
// sees, what a disk would still hold after a power cut: file contents as of
// their last Sync, directory entries as of their directory's last SyncDir.
// crash() goes back to that state; dieAfter makes the disk stop in the
// middle of whatever the log is doing.
type crashFS struct {
	mu      sync.Mutex
	files   map[string]*memFile // what the process sees, by path
	durable map[string]*memFile // what survives a crash, by path
	dirs    map[string]bool
	// ops counts down the operations left before the disk stops; below 0
	// it never stops.
	ops int
	// removeErr, when set, fails every Remove with it.
	removeErr error
}

var errDiskStopped = errors.New("crashfs: the disk stopped (simulated crash)")

type memFile struct {
	data   []byte
	synced []byte
}

func newCrashFS() *crashFS {
	return &crashFS{files: map[string]*memFile{}, durable: map[string]*memFile{}, dirs: map[string]bool{}, ops: -1}
}

// dieAfter lets n more operations through; every later one fails.
func (fs *crashFS) dieAfter(n int) {
	fs.mu.Lock()
	fs.ops = n
	fs.mu.Unlock()
}

// step reports whether the disk still works; fs.mu held.
func (fs *crashFS) step() error {
	if fs.ops == 0 {
		return errDiskStopped
	}
	if fs.ops > 0 {
		fs.ops--
	}
	return nil
}

// crashKind says what a crash takes.
type crashKind int

const (
	// processCrash: the process dies (kill -9), the operating system
	// lives on: everything written stays, synced or not.
	processCrash crashKind = iota
	// powerCut: everything not synced is gone.
	powerCut
	// tornPowerCut: the disk wrote some of what was not synced. Each
	// directory change since the last SyncDir survives or not, in no
	// particular order, and a file whose unsynced part was appended keeps a
	// random prefix of it, possibly with its last byte damaged.
	tornPowerCut
	crashKinds
)

func (k crashKind) String() string {
	return [...]string{"process crash", "power cut", "torn power cut"}[k]
}

// crash ends whatever the log was doing, as kind says.
func (fs *crashFS) crash(rng *rand.Rand, kind crashKind) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.ops = -1
	if kind == processCrash {
		return
	}
	torn := kind == tornPowerCut
	if torn {
		for _, p := range sortedKeys(fs.files) {
			if f := fs.files[p]; fs.durable[p] != f && rng.Intn(2) == 0 {
				fs.durable[p] = f
			}
		}
		for _, p := range sortedKeys(fs.durable) {
			if _, ok := fs.files[p]; !ok && rng.Intn(2) == 0 {
				delete(fs.durable, p)
			}
		}
	}
	copies := map[*memFile]*memFile{}
	files := map[string]*memFile{}
	for _, p := range sortedKeys(fs.durable) {
		f := fs.durable[p]
		c, ok := copies[f]
		if !ok {
			data := bytes.Clone(f.synced)
			if torn && len(f.data) > len(f.synced) && bytes.Equal(f.data[:len(f.synced)], f.synced) {
				extra := f.data[len(f.synced):]
				data = append(data, extra[:rng.Intn(len(extra)+1)]...)
				if len(data) > len(f.synced) && rng.Intn(3) == 0 {
					data[len(data)-1] ^= 0x5a
				}
			}
			c = &memFile{data: data, synced: bytes.Clone(data)}
			copies[f] = c
		}
		files[p] = c
	}
	fs.files = files
	fs.durable = map[string]*memFile{}
	for p, f := range files {
		fs.durable[p] = f
	}
}

func sortedKeys(m map[string]*memFile) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String lists the visible files, for failure messages.
func (fs *crashFS) String() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var b strings.Builder
	var paths []string
	for p := range fs.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := fs.files[p]
		_, durable := fs.durable[p]
		fmt.Fprintf(&b, "%s: %d bytes (%d synced, entry durable %v)\n", p, len(f.data), len(f.synced), durable)
	}
	return b.String()
}

func (fs *crashFS) OpenFile(p string, flag int) (file, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.step(); err != nil {
		return nil, err
	}
	if !fs.dirs[path.Dir(p)] {
		return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
	}
	f, ok := fs.files[p]
	switch {
	case ok && flag&os.O_EXCL != 0 && flag&os.O_CREATE != 0:
		return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
	case !ok:
		f = &memFile{}
		fs.files[p] = f
	}
	if flag&os.O_TRUNC != 0 {
		f.data = nil
	}
	return &memHandle{fs: fs, f: f, name: p}, nil
}

func (fs *crashFS) Remove(p string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.step(); err != nil {
		return err
	}
	if fs.removeErr != nil {
		return fs.removeErr
	}
	if _, ok := fs.files[p]; !ok {
		return &os.PathError{Op: "remove", Path: p, Err: os.ErrNotExist}
	}
	delete(fs.files, p)
	return nil
}

func (fs *crashFS) Rename(from, to string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.step(); err != nil {
		return err
	}
	f, ok := fs.files[from]
	if !ok {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: os.ErrNotExist}
	}
	if !fs.dirs[path.Dir(to)] {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: os.ErrNotExist}
	}
	delete(fs.files, from)
	fs.files[to] = f
	return nil
}

func (fs *crashFS) MkdirAll(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.step(); err != nil {
		return err
	}
	for d := dir; d != "/" && d != "."; d = path.Dir(d) {
		fs.dirs[d] = true
	}
	return nil
}

func (fs *crashFS) Files(dir string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.step(); err != nil {
		return nil, err
	}
	var names []string
	for p := range fs.files {
		if path.Dir(p) == dir {
			names = append(names, path.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (fs *crashFS) SyncDir(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.step(); err != nil {
		return err
	}
	for p := range fs.durable {
		if path.Dir(p) == dir {
			delete(fs.durable, p)
		}
	}
	for p, f := range fs.files {
		if path.Dir(p) == dir {
			fs.durable[p] = f
		}
	}
	return nil
}

// durableFiles lists the files of dir that would survive a crash now.
func (fs *crashFS) durableFiles(dir string) []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var names []string
	for p := range fs.durable {
		if path.Dir(p) == dir {
			names = append(names, path.Base(p))
		}
	}
	sort.Strings(names)
	return names
}

type memHandle struct {
	fs     *crashFS
	f      *memFile
	name   string
	closed bool
}

func (h *memHandle) Name() string { return h.name }

func (h *memHandle) check() error {
	if h.closed {
		return os.ErrClosed
	}
	return h.fs.step()
}

func (h *memHandle) ReadAt(b []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(b, h.f.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(b []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	if end := off + int64(len(b)); end > int64(len(h.f.data)) {
		h.f.data = append(h.f.data, make([]byte, end-int64(len(h.f.data)))...)
	}
	copy(h.f.data[off:], b)
	return len(b), nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	h.f.synced = bytes.Clone(h.f.data)
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	if size < int64(len(h.f.data)) {
		h.f.data = h.f.data[:size:size]
	} else {
		h.f.data = append(h.f.data, make([]byte, size-int64(len(h.f.data)))...)
	}
	return nil
}

func (h *memHandle) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return os.ErrClosed
	}
	h.closed = true
	return nil
}
