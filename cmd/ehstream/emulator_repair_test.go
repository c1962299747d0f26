package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
)

// lockedBuffer is an output a test reads while a command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEmulatorRepair: a partition log damaged before its tail stops
// `ehstream emulator` with an error that names the file and suggests
// --repair, which starts it with the damage moved aside.
func TestEmulatorRepair(t *testing.T) {
	dir := t.TempDir()
	part := filepath.Join(dir, "eh1", "0")
	l, err := partlog.Open(partlog.Options{Dir: part, SegmentBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if _, err := l.Append(1, func(_ int, _ partlog.Meta, dst []byte) ([]byte, error) {
			return fmt.Appendf(dst, "event-%02d", i), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(part, "*.seg"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}

	var out, errOut lockedBuffer
	args := []string{"emulator", "--listen", "127.0.0.1:0", "--data", dir}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := run(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errOut}); code != 1 ||
		!strings.Contains(errOut.String(), segs[2]) || !strings.Contains(errOut.String(), "--repair") {
		t.Fatalf("ehstream emulator on a damaged log: exit %d, stderr %q; want 1 and an error naming %s and --repair", code, errOut.String(), segs[2])
	}

	t.Logf("without --repair: %s", errOut.String())

	ctx, stop := context.WithCancel(ctx)
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, append(args, "--repair"), stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	}()
	for !strings.Contains(out.String(), "connection string") {
		select {
		case code := <-exited:
			t.Fatalf("ehstream emulator --repair exited %d: %s", code, errOut.String())
		case <-ctx.Done():
			t.Fatal("ehstream emulator --repair did not start within 30s")
		case <-time.After(10 * time.Millisecond): // polling its output
		}
	}
	stop()
	if code := <-exited; code != 0 {
		t.Fatalf("ehstream emulator --repair exited %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(part, partlog.DamagedDir, filepath.Base(segs[0]))); err != nil {
		t.Fatalf("the segment before the gap was not moved aside: %v", err)
	}
	if !strings.Contains(errOut.String(), "moved segments aside") {
		t.Fatalf("the log does not say what was moved: %s", errOut.String())
	}
}
