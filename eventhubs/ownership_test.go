package eventhubs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// syncBuffer is a child's stderr, read while it writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// child is the crash test's stream program (streamChild) run as an
// instance of a job: a checkpointed stream of the hub, logging what its
// output sees.
type child struct {
	log    string
	stderr *syncBuffer
	cmd    *exec.Cmd
	exited chan error
}

func startChild(t *testing.T, connStr, dir, name string) *child {
	c := &child{log: filepath.Join(dir, name+".log"), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+connStr,
		"EHSTREAM_TEST_LOG="+c.log, "EHSTREAM_TEST_CHECKPOINT="+filepath.Join(dir, "checkpoint"))
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	go func() { c.exited <- c.cmd.Wait(); close(gone) }()
	t.Cleanup(func() { c.cmd.Process.Kill(); <-gone })
	return c
}

func (c *child) lines() []string {
	b, _ := os.ReadFile(c.log)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (c *child) count(prefix string) int {
	n := 0
	for _, l := range c.lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// An idle instance (nothing to read) notices within a batch that a newer
// one took its partitions, rather than at the next event.
func TestDirectStreamIdleOlderInstanceStops(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "idle", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "idle", "0", 0, 30)
	dir := t.TempDir()
	older := startChild(t, srv.ConnectionString("idle"), dir, "older")
	waitFor(t, 30*time.Second, "the older instance to read the 30 events and idle", func() bool {
		return older.count("event ") == 30 && older.count("done") >= 3
	})
	newer := startChild(t, srv.ConnectionString("idle"), dir, "newer")
	waitFor(t, 30*time.Second, "the newer instance's first batch", func() bool { return newer.count("ranges") >= 1 })
	select {
	case err := <-older.exited:
		if err == nil || !strings.Contains(older.stderr.String(), "ownership") {
			t.Errorf("the older instance exited with %v, want an ownership-lost error:\n%s", err, older.stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the idle older instance still runs 5s after the newer one took its partitions (batches every 50ms)")
	}
	newer.cmd.Process.Signal(os.Interrupt)
	if err := <-newer.exited; err != nil {
		t.Fatalf("the newer instance: %v\n%s", err, newer.stderr.String())
	}
}

// Two instances of a checkpointed stream, the second started from the
// first's checkpoint while a producer writes. The checkpoint directory is a
// fenced store: the second waits for the first's batch in flight, the
// first stops at its next batch, and no event is processed by both.
func TestDirectStreamOlderInstanceStopsAtOnce(t *testing.T) {
	const partitions, perPartition = 2, 3000
	srv := startEmulator(t, emulator.HubConfig{Name: "twice", PartitionCount: partitions})
	ctx := testCtx(t, 120*time.Second)
	dir := t.TempDir()
	produced := produceInRounds(ctx, srv, "twice", partitions, perPartition, 20)

	start := func(name string) *child { return startChild(t, srv.ConnectionString("twice"), dir, name) }
	lines := func(c *child) []string { return c.lines() }
	count := func(c *child, prefix string) int { return c.count(prefix) }

	older := start("older")
	waitFor(t, 30*time.Second, "the older instance's third batch", func() bool {
		select {
		case err := <-older.exited:
			t.Fatalf("the older instance exited (%v) before its third batch:\n%s", err, older.stderr.String())
		default:
		}
		return count(older, "done") >= 3
	})
	newer := start("newer")
	waitFor(t, 30*time.Second, "the newer instance's first batch", func() bool { return count(newer, "ranges") >= 1 })
	took := time.Now()
	var olderErr error
	select {
	case olderErr = <-older.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("the older instance still runs 15s after the newer one took its partitions:\n%s", older.stderr.String())
	}
	stopped := time.Since(took)
	if olderErr == nil || !strings.Contains(older.stderr.String(), "ownership") {
		t.Errorf("the older instance exited with %v, want an ownership-lost error:\n%s", olderErr, older.stderr.String())
	}
	waitFor(t, 30*time.Second, "the newer instance to go on", func() bool { return count(newer, "done") >= 5 })
	newer.cmd.Process.Signal(os.Interrupt)
	if err := <-newer.exited; err != nil {
		t.Fatalf("the newer instance: %v\n%s", err, newer.stderr.String())
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	// The older's batches: the events of each, in order.
	var batches []map[string]bool
	for _, l := range lines(older) {
		switch {
		case strings.HasPrefix(l, "ranges"):
			batches = append(batches, map[string]bool{})
		case strings.HasPrefix(l, "event ") && len(batches) > 0:
			batches[len(batches)-1][l] = true
		}
	}
	both := 0
	for _, l := range lines(newer) {
		if !strings.HasPrefix(l, "event ") {
			continue
		}
		for _, b := range batches {
			if b[l] {
				both++
			}
		}
	}
	if both > 0 {
		t.Errorf("%d events were processed by both instances", both)
	}
	t.Logf("the older instance stopped %s after the newer one's first batch, after %d batches; %d events processed by both", stopped.Round(time.Millisecond), len(batches), both)
}

// A stopped stream gives its partitions up at once: a default (not
// exclusive) read of its consumer group in the same process works right
// after, instead of being refused while the stream's links sat idle.
func TestStoppedStreamGivesUpItsPartitions(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "give", PartitionCount: 1})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "give", "0", 0, 5)
	ssc := newSSC(t, 10*time.Millisecond)
	ds, err := eventhubs.CreateDirectStream(ssc, testConf(srv, "give"))
	if err != nil {
		t.Fatal(err)
	}
	log := newStreamLog()
	ds.ForeachRDD(log.output)
	done := runSSC(t, ctx, ssc)
	waitFor(t, 10*time.Second, "the stream to read the 5 events", func() bool { return log.count() == 5 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	rdd, err := eventhubs.CreateRDD(ctx, testConf(srv, "give"), []eventhubs.OffsetRange{{Name: "give", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := rdd.Collect(ctx); err != nil || len(evs) != 5 {
		t.Fatalf("a read of the stopped stream's group: %d events, %v; want the 5 events", len(evs), err)
	}
}
