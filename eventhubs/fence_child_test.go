package eventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// fenceGoEnv, set in a child's environment, makes it fenceChild, which
// waits in its output for the file it names.
const fenceGoEnv = "EHSTREAM_TEST_FENCE_GO"

// fenceChild is an instance of a job with an at-least-once output
// (childStream, batch lease 1 s): it reads the batch, logs "inside", waits
// for the file $EHSTREAM_TEST_FENCE_GO, checks the fence and logs an
// "event P SEQ" line per event.
func fenceChild() int {
	ssc, ds, write, err := childStream(&streaming.ContextOptions{NoBatchLog: true, BatchLease: time.Second}, 1000)
	if err != nil {
		return childFailed(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		evs, err := rdd.Collect(ctx)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := write("inside\n"); err != nil {
			return err
		}
		if err := waitForFile(ctx, os.Getenv(fenceGoEnv)); err != nil {
			return err
		}
		// The effect below cannot be taken back: check first.
		if err := streaming.CheckFence(ctx); err != nil {
			return err
		}
		var b strings.Builder
		for _, ev := range evs {
			fmt.Fprintf(&b, "event %s %d\n", ev.PartitionID, ev.SequenceNumber)
		}
		return write(b.String())
	})
	return runChild(ssc)
}

// waitForFile polls for path until ctx ends.
func waitForFile(ctx context.Context, path string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// An instance stopped (SIGSTOP) inside its output past its batch lease,
// while a newer instance takes its checkpoint over and runs the batch:
// resumed, the older one finds the batch another's when it checks the
// fence before its effect, and writes nothing. No event is written by
// both. The older instance ends with an error that says why.
func TestPausedInstanceDoesNotProcessTheBatchTheNewerOneRan(t *testing.T) {
	const partitions, perPartition = 2, 50
	srv := startEmulator(t, emulator.HubConfig{Name: "zombie", PartitionCount: partitions})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "zombie", "0", 0, perPartition)
	fill(t, ctx, srv, "zombie", "1", 0, perPartition)
	dir := t.TempDir()
	goFile := filepath.Join(dir, "go")
	t.Setenv(fenceGoEnv, goFile) // the children's
	running := func(c *child, name string) {
		select {
		case err := <-c.exited:
			t.Fatalf("the %s instance exited: %v\n%s", name, err, c.stderr)
		default:
		}
	}

	older := startChild(t, srv.ConnectionString("zombie"), dir, "older")
	waitFor(t, 30*time.Second, "the older instance inside its output", func() bool {
		running(older, "older")
		return older.count("inside") > 0
	})
	if err := older.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	newer := startChild(t, srv.ConnectionString("zombie"), dir, "newer")
	waitFor(t, 30*time.Second, "the newer instance to write every event", func() bool {
		running(newer, "newer")
		return newer.count("event ") >= partitions*perPartition
	})
	if err := older.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-older.exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(older.stderr.String(), "another instance of the job") {
			t.Errorf("the older instance ended with %v: %s; want an error saying another instance took over", err, older.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the older instance did not end within 20s of its resumption")
	}
	if err := newer.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := <-newer.exited; err != nil {
		t.Errorf("the newer instance after SIGINT: %v\n%s", err, newer.stderr)
	}

	byNewer := map[string]int{}
	for _, l := range newer.lines() {
		if strings.HasPrefix(l, "event ") {
			byNewer[l]++
		}
	}
	var both []string
	for _, l := range older.lines() {
		if byNewer[l] > 0 {
			both = append(both, l)
		}
	}
	if len(both) > 0 {
		t.Errorf("%d events written by both instances, e.g. %q", len(both), both[:min(len(both), 5)])
	}
	if len(byNewer) != partitions*perPartition {
		t.Errorf("the newer instance wrote %d distinct events, want all %d", len(byNewer), partitions*perPartition)
	}
}
