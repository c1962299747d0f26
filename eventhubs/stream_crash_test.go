package eventhubs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

const childEnv = "EHSTREAM_TEST_STREAM_CHILD"

// streamChild is the program the crash test kills: a direct stream with a
// checkpoint directory whose output appends what it sees to a log file.
// Lines: "start", "ranges P:FROM:UNTIL ...", "event P SEQ", "blocked",
// "done". With EHSTREAM_TEST_BLOCK_AT=N the Nth batch writes its events,
// then blocks without returning. SIGINT stops it gracefully.
func streamChild() int {
	blockAt, _ := strconv.Atoi(os.Getenv("EHSTREAM_TEST_BLOCK_AT"))
	ssc, ds, write, err := childStream(&streaming.ContextOptions{NoBatchLog: true}, 30)
	if err != nil {
		return childFailed(err)
	}
	calls := 0
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		calls++
		var line strings.Builder
		line.WriteString("ranges")
		for _, r := range rdd.OffsetRanges() {
			fmt.Fprintf(&line, " %s:%d:%d", r.PartitionID, r.FromSeqNo, r.UntilSeqNo)
		}
		if err := write(line.String() + "\n"); err != nil {
			return err
		}
		var mu sync.Mutex
		err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			var b strings.Builder
			for ev, err := range p.Events() {
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "event %s %d\n", ev.PartitionID, ev.SequenceNumber)
			}
			mu.Lock()
			defer mu.Unlock()
			return write(b.String())
		})
		if err != nil {
			return err
		}
		if calls == blockAt {
			if err := write("blocked\n"); err != nil {
				return err
			}
			<-ctx.Done() // killed here
			return ctx.Err()
		}
		return write("done\n")
	})
	if err := write("start\n"); err != nil {
		return childFailed(err)
	}
	return runChild(ssc)
}

// childStream is the stream of a child program: a direct stream of the hub
// $EHSTREAM_TEST_STREAM_CHILD names, at most rate events per partition a
// batch, checkpointed in the directory $EHSTREAM_TEST_CHECKPOINT; write
// appends to the log file $EHSTREAM_TEST_LOG.
func childStream(opts *streaming.ContextOptions, rate int64) (*streaming.Context, *eventhubs.DirectStream, func(string) error, error) {
	logf, err := os.OpenFile(os.Getenv("EHSTREAM_TEST_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, nil, err
	}
	write := func(s string) error { _, err := logf.WriteString(s); return err }
	ssc, err := streaming.NewContext(50*time.Millisecond, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := streaming.NewDirStore(os.Getenv("EHSTREAM_TEST_CHECKPOINT"))
	if err != nil {
		return nil, nil, nil, err
	}
	if err := ssc.Checkpoint(store); err != nil {
		return nil, nil, nil, err
	}
	conf := eventhubs.NewConf(os.Getenv(childEnv)).SetMaxRatePerPartition(rate).
		SetReceiverTimeout(5 * time.Second).SetOperationTimeout(10 * time.Second)
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return nil, nil, nil, err
	}
	return ssc, ds, write, nil
}

// runChild runs a child program's stream until SIGINT stops it gracefully
// (status 0) or it fails (status 1, the error on stderr).
func runChild(ssc *streaming.Context) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() { <-sig; ssc.Stop(true) }()
	if err := ssc.Run(context.Background()); err != nil {
		return childFailed(err)
	}
	return 0
}

func childFailed(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }

// A stream killed with SIGKILL in the middle of a batch and started again
// from its checkpoint directory runs exactly that batch's ranges again,
// then goes on; nothing is missed while a producer writes throughout.
func TestDirectStreamKilledMidBatch(t *testing.T) {
	const partitions, perPartition = 4, 400
	srv := startEmulator(t, emulator.HubConfig{Name: "crash", PartitionCount: partitions})
	ctx := testCtx(t, 150*time.Second)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "out.log")

	produced := produceInRounds(ctx, srv, "crash", partitions, perPartition, 20)

	start := func(blockAt int) (*exec.Cmd, <-chan error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+srv.ConnectionString("crash"),
			"EHSTREAM_TEST_LOG="+logPath, "EHSTREAM_TEST_CHECKPOINT="+filepath.Join(dir, "checkpoint"),
			fmt.Sprintf("EHSTREAM_TEST_BLOCK_AT=%d", blockAt))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited, gone := make(chan error, 1), make(chan struct{})
		go func() { exited <- cmd.Wait(); close(gone) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-gone })
		return cmd, exited
	}
	readLog := func() []string {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return nil
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}

	first, exited := start(3)
	waitFor(t, 60*time.Second, "the first run to block in its third batch", func() bool {
		return slices.Contains(readLog(), "blocked")
	})
	if err := first.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-exited

	second, exited := start(0)
	seen := func() map[string]int {
		m := map[string]int{}
		for _, l := range readLog() {
			if strings.HasPrefix(l, "event ") {
				m[l]++
			}
		}
		return m
	}
	waitFor(t, 90*time.Second, "the second run to see every event", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("the second run exited: %v", err)
		default:
		}
		return len(seen()) == partitions*perPartition
	})
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if err := second.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("the second run after SIGINT: %v", err)
	}

	// Split the log into the two runs' range lines.
	var runs [][]string
	for _, l := range readLog() {
		switch {
		case l == "start":
			runs = append(runs, nil)
		case strings.HasPrefix(l, "ranges "):
			runs[len(runs)-1] = append(runs[len(runs)-1], strings.TrimPrefix(l, "ranges "))
		}
	}
	if len(runs) != 2 || len(runs[0]) != 3 || len(runs[1]) == 0 {
		t.Fatalf("log has %d runs with %v batches, want 2 runs, the first with 3", len(runs), runs)
	}
	killed := runs[0][2]
	if runs[1][0] != killed {
		t.Fatalf("after the restart the first batch read %q, want the killed batch's ranges %q", runs[1][0], killed)
	}
	// Contiguous ranges per partition, counting the replayed batch once.
	next := map[string]int64{}
	replayed := map[string][2]int64{}
	for _, batch := range append(runs[0], runs[1][1:]...) {
		for _, f := range strings.Fields(batch) {
			var p string
			var from, until int64
			parts := strings.Split(f, ":")
			p = parts[0]
			from, _ = strconv.ParseInt(parts[1], 10, 64)
			until, _ = strconv.ParseInt(parts[2], 10, 64)
			if from != next[p] {
				t.Errorf("partition %s: range %s does not start where the previous ended (%d)", p, f, next[p])
			}
			next[p] = until
			if batch == killed {
				replayed[p] = [2]int64{from, until}
			}
		}
	}
	for p := range partitions {
		id := fmt.Sprint(p)
		if next[id] != perPartition {
			t.Errorf("partition %s: ranges end at %d, want %d", id, next[id], perPartition)
		}
	}
	// Every event seen; twice only when in the replayed batch.
	counts := seen()
	for p := range partitions {
		id := fmt.Sprint(p)
		for seq := range int64(perPartition) {
			n, want := counts[fmt.Sprintf("event %s %d", id, seq)], 1
			if r := replayed[id]; seq >= r[0] && seq < r[1] {
				want = 2
			}
			if n != want {
				t.Errorf("event %s %d seen %d times, want %d", id, seq, n, want)
			}
		}
	}
	t.Logf("killed in batch 3 (%s); the restart replayed it and ran %d more batches", killed, len(runs[1])-1)
}
