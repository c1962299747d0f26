// Package childproc runs a program of this module as a child process in a
// test, as a user runs it: built once, started, its output watched,
// killed (kill -9 included) or stopped by a signal, and never left
// running after the test. Tests only.
package childproc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

var built sync.Map // package path -> *build

type build struct {
	once sync.Once
	bin  string
	err  error
}

// Build builds the main package pkg (a path as go build takes it, "."
// for the test's own) once per test binary and returns the program's
// path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := built.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "childproc")
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(dir, "prog")
		if out, err := exec.Command("go", "build", "-o", b.bin, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// Proc is a program running as a child process.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how it exited, once done is closed

	mu  sync.Mutex
	out bytes.Buffer // stdout and stderr
}

// Start starts bin with args; the test's cleanup kills it if it still
// runs.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is what the program wrote so far, stdout and stderr.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the program has exited; Err then says how.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the program exited (nil: status 0); call it after Done.
func (p *Proc) Err() error { return p.err }

// Exited reports whether the program has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the program.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the program (SIGKILL) and waits until it has exited.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Wait waits, at most within, for the program to exit, and returns how it
// exited; the test fails if it still runs then.
func (p *Proc) Wait(t testing.TB, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("the program still runs after %s:\n%s", within, p.Output())
		return nil
	}
}

// WaitFor polls the output, at most within, until re matches it, and
// reports whether it did; the test fails if the program exits first.
func (p *Proc) WaitFor(t testing.TB, re *regexp.Regexp, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for !re.MatchString(p.Output()) {
		if p.Exited() {
			t.Fatalf("the program exited (%v) before printing %s:\n%s", p.err, re, p.Output())
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
