package eventhubs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

const fenceChildEnv = "EHSTREAM_TEST_FENCE_CHILD"

// fenceChild is one instance of a checkpointed stream (a DirStore, which
// fences) with an at-least-once output: it reads the batch, tells the
// parent it is inside the output (a line in EHSTREAM_TEST_PROGRESS), waits
// for the file EHSTREAM_TEST_GO, checks the fence and appends "partition
// seq" lines to EHSTREAM_TEST_OUT. SIGINT stops it gracefully; an error
// ends it with status 1 and the error on stderr.
func fenceChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	out, err := os.OpenFile(os.Getenv("EHSTREAM_TEST_OUT"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fail(err)
	}
	ssc, err := streaming.NewContext(50*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true, BatchLease: time.Second})
	if err != nil {
		return fail(err)
	}
	store, err := streaming.NewDirStore(os.Getenv("EHSTREAM_TEST_CHECKPOINT"))
	if err != nil {
		return fail(err)
	}
	ssc.Checkpoint(store)
	conf := eventhubs.NewConf(os.Getenv(fenceChildEnv)).SetReceiverTimeout(5 * time.Second).SetOperationTimeout(10 * time.Second)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return fail(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		evs, err := rdd.Collect(ctx)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := appendLine(os.Getenv("EHSTREAM_TEST_PROGRESS"), "inside"); err != nil {
			return err
		}
		if err := waitForFile(ctx, os.Getenv("EHSTREAM_TEST_GO")); err != nil {
			return err
		}
		// The effect below cannot be taken back: check first.
		if err := streaming.CheckFence(ctx); err != nil {
			return err
		}
		var b bytes.Buffer
		for _, ev := range evs {
			fmt.Fprintf(&b, "%s %d\n", ev.PartitionID, ev.SequenceNumber)
		}
		_, err = out.Write(b.Bytes())
		return err
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() { <-sig; ssc.Stop(true) }()
	if err := ssc.Run(context.Background()); err != nil {
		return fail(err)
	}
	return 0
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
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
	type child struct {
		cmd      *exec.Cmd
		out      string
		progress string
		exited   chan error
		stderr   *bytes.Buffer
	}
	start := func(name string) *child {
		c := &child{out: filepath.Join(dir, name+".out"), progress: filepath.Join(dir, name+".progress"), exited: make(chan error, 1), stderr: &bytes.Buffer{}}
		c.cmd = exec.Command(os.Args[0], "-test.run=^$")
		c.cmd.Env = append(os.Environ(), fenceChildEnv+"="+srv.ConnectionString("zombie"), "EHSTREAM_TEST_CHECKPOINT="+filepath.Join(dir, "checkpoint"),
			"EHSTREAM_TEST_OUT="+c.out, "EHSTREAM_TEST_PROGRESS="+c.progress, "EHSTREAM_TEST_GO="+goFile)
		c.cmd.Stderr = c.stderr
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		gone := make(chan struct{})
		go func() { c.exited <- c.cmd.Wait(); close(gone) }()
		t.Cleanup(func() { c.cmd.Process.Kill(); <-gone })
		return c
	}
	lines := func(path string) []string {
		b, _ := os.ReadFile(path)
		return strings.Fields(strings.ReplaceAll(string(b), " ", ":"))
	}
	running := func(c *child, name string) {
		select {
		case err := <-c.exited:
			t.Fatalf("the %s instance exited: %v\n%s", name, err, c.stderr)
		default:
		}
	}

	older := start("older")
	waitFor(t, 30*time.Second, "the older instance inside its output", func() bool {
		running(older, "older")
		return len(lines(older.progress)) > 0
	})
	if err := older.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	newer := start("newer")
	waitFor(t, 30*time.Second, "the newer instance to write every event", func() bool {
		running(newer, "newer")
		return len(lines(newer.out)) >= partitions*perPartition
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
	for _, l := range lines(newer.out) {
		byNewer[l]++
	}
	var both []string
	for _, l := range lines(older.out) {
		if byNewer[l] > 0 {
			both = append(both, l)
		}
	}
	if len(both) > 0 {
		t.Errorf("%d events written by both instances, e.g. (partition:seq) %v", len(both), both[:min(len(both), 5)])
	}
	if len(byNewer) != partitions*perPartition {
		t.Errorf("the newer instance wrote %d distinct events, want all %d", len(byNewer), partitions*perPartition)
	}
}
