package eventhubs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// What users change between runs and while a stream runs: none of it may
// lose or double an event.

// restartableHub is an emulator on disk that can be restarted on the same
// address with more partitions, as a hub grows.
type restartableHub struct {
	t    *testing.T
	dir  string
	addr string
	hub  string
	srv  *emulator.Server
}

func startRestartable(t *testing.T, hub string, partitions int) *restartableHub {
	h := &restartableHub{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", hub: hub}
	h.start(partitions)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eventhubs.CloseAll(ctx)
		h.srv.Close()
	})
	return h
}

func (h *restartableHub) start(partitions int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Listen: h.addr, DataDir: h.dir,
		Hubs: []emulator.HubConfig{{Name: h.hub, PartitionCount: partitions}}})
	if err != nil {
		h.t.Fatalf("start emulator: %v", err)
	}
	h.srv, h.addr = srv, srv.Addr()
}

// restart stops the emulator and starts it again on the same data and
// address with partitions partitions.
func (h *restartableHub) restart(partitions int) {
	h.t.Helper()
	if err := h.srv.Close(); err != nil {
		h.t.Fatalf("close emulator: %v", err)
	}
	h.start(partitions)
}

// gate holds a stream's output until opened, so that a test can change the
// hub between two batches.
type gate struct {
	mu      sync.Mutex
	closed  bool
	waiting chan struct{} // closed when an output waits at the closed gate
	open    chan struct{}
}

func newGate() *gate { return &gate{waiting: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed, g.waiting, g.open = true, make(chan struct{}), make(chan struct{})
}

func (g *gate) pass(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.mu.Unlock()
		return nil
	}
	waiting, open := g.waiting, g.open
	g.closed = false // one output waits; the next passes
	g.mu.Unlock()
	close(waiting)
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkpointedStream runs a stream of conf with a checkpoint in dir, the
// given output gate, and a log of what it saw.
func checkpointedStream(t *testing.T, ctx context.Context, conf *eventhubs.Conf, dir string, g *gate) (*streaming.Context, *streamLog, <-chan error) {
	t.Helper()
	ssc, ds := directStream(t, 20*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true}, dir, conf)
	log := newStreamLog()
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		if g != nil {
			if err := g.pass(ctx); err != nil {
				return err
			}
		}
		return log.output(ctx, rdd)
	})
	ssc.AddListener(log)
	return ssc, log, runSSC(t, ctx, ssc)
}

func (l *streamLog) batchCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.batches)
}

func (l *streamLog) seqsOf(p string) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.seqs[p]...)
}

// Finding 3: the guide's stream starts at the end of the hub and
// checkpoints. When all its batches were empty, a restart must go on from
// the end it resolved the first time, not from the end at the restart.
func TestDirectStreamLatestKeepsItsPositionThroughEmptyBatches(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "quiet", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "quiet", "0", 0, 3) // history before the job was deployed
	dir := t.TempDir()
	conf := testConf(srv, "quiet").SetStartingPosition(eventhubs.EndOfStream())

	ssc, log, done := checkpointedStream(t, ctx, conf, dir, nil)
	waitFor(t, 10*time.Second, "three batches", func() bool { return log.batchCount() >= 3 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	if n := log.count(); n != 0 {
		t.Fatalf("the first run read %d events, want none (it starts at the end)", n)
	}

	fill(t, ctx, srv, "quiet", "0", 3, 5) // while the job is down
	fill(t, ctx, srv, "quiet", "1", 0, 5)
	ssc, log, done = checkpointedStream(t, ctx, conf, dir, nil)
	waitFor(t, 10*time.Second, "the 10 events sent while the stream was down", func() bool { return log.count() >= 10 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	if got := log.seqsOf("0"); fmt.Sprint(got) != "[3 4 5 6 7]" {
		t.Errorf("partition 0 after the restart: %v, want [3 4 5 6 7]", got)
	}
	if got := log.seqsOf("1"); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("partition 1 after the restart: %v, want [0 1 2 3 4]", got)
	}
}

// Finding 2: a partition the hub gains, while a stream at the end of the
// hub runs and while it is down, is read from its first event.
func TestDirectStreamNewPartitionsFromTheirStart(t *testing.T) {
	h := startRestartable(t, "grow", 2)
	ctx := testCtx(t, 90*time.Second)
	fill(t, ctx, h.srv, "grow", "0", 0, 5)
	dir := t.TempDir()
	conf := testConf(h.srv, "grow").SetStartingPosition(eventhubs.EndOfStream())

	g := newGate()
	ssc, log, done := checkpointedStream(t, ctx, conf, dir, g)
	waitFor(t, 10*time.Second, "two batches", func() bool { return log.batchCount() >= 2 })
	// Hold the stream between batches while the hub gains a partition and
	// events arrive in it, so that the stream finds it holding events.
	g.close()
	select {
	case <-g.waiting:
	case <-ctx.Done():
		t.Fatal("the stream's output never reached the gate")
	}
	h.restart(3)
	fill(t, ctx, h.srv, "grow", "2", 0, 7)
	close(g.open)
	waitFor(t, 30*time.Second, "partition 2's 7 events", func() bool { return len(log.seqsOf("2")) >= 7 })
	fill(t, ctx, h.srv, "grow", "2", 7, 1)
	waitFor(t, 30*time.Second, "partition 2's 8th event", func() bool { return len(log.seqsOf("2")) >= 8 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	log.checkExactlyOnce(t, "2", 8)
	if got := log.seqsOf("0"); len(got) != 0 {
		t.Errorf("partition 0 (at its end when the stream started): read %v, want nothing", got)
	}

	// While the stream is down the hub gains another partition.
	h.restart(4)
	fill(t, ctx, h.srv, "grow", "3", 0, 6)
	ssc, log, done = checkpointedStream(t, ctx, conf, dir, nil)
	waitFor(t, 30*time.Second, "partition 3's 6 events", func() bool { return len(log.seqsOf("3")) >= 6 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	log.checkExactlyOnce(t, "3", 6)
	if n := log.count(); n != 6 {
		t.Errorf("the restart read %d events, want only partition 3's 6", n)
	}
}

// Finding 7: an offset after which nothing follows resolves in about one
// receive timeout, even when the operation timeout is no longer, and two
// such partitions take no longer than one.
func TestResolveOffsetWithNothingAfterIt(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "offs", PartitionCount: 3})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "offs", "0", 0, 10)
	fill(t, ctx, srv, "offs", "1", 0, 2)
	fill(t, ctx, srv, "offs", "2", 0, 2)
	conf := testConf(srv, "offs").SetExclusive(false)
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "offs", PartitionID: "0", FromSeqNo: 8, UntilSeqNo: 9}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Partitions 1 and 2 hold fewer bytes than event 8's offset in
	// partition 0, so nothing follows that offset there.
	stream := conf.Clone().SetReceiverTimeout(2 * time.Second).SetOperationTimeout(2 * time.Second).
		SetStartingPosition(eventhubs.FromOffset(evs[0].Offset, false))
	ds, err := eventhubs.CreateDirectStream(newSSC(t, time.Hour), stream)
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
	began := time.Now()
	if err := ds.Start(ctx, nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer ds.Stop()
	took := time.Since(began)
	plan, err := ds.Plan(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(plan.Ranges); got != "[offs 0 9 10 offs 1 2 2 offs 2 2 2]" {
		t.Errorf("plan %s, want partition 0 from 9 and partitions 1 and 2 from their end, 2", got)
	}
	if took > 3500*time.Millisecond {
		t.Errorf("resolving took %s, want about one receive timeout (2s)", took)
	}
	t.Logf("resolved in %s", took)
}

// Finding 8: an offset the service refuses is an error naming it, never
// taken for "nothing after it".
func TestResolveRefusedOffset(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "bad", PartitionCount: 1})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "bad", "0", 0, 3)
	conf := testConf(srv, "bad").SetReceiverTimeout(10 * time.Second).SetOperationTimeout(20 * time.Second).
		SetStartingPosition(eventhubs.FromOffset("abc", true))
	ds, err := eventhubs.CreateDirectStream(newSSC(t, time.Hour), conf)
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
	began := time.Now()
	err = ds.Start(ctx, nil)
	defer ds.Stop()
	if errCode(err) != eventhubs.CodeInvalidConf || !strings.Contains(err.Error(), "offset:abc") {
		t.Fatalf("Start from offset abc: %v; want %s naming the position", err, eventhubs.CodeInvalidConf)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the refusal took %s, want it at once", took)
	}
	t.Logf("refused: %v", err)
}

// Finding 9: a consumer group that does not exist is found when the stream
// starts, at once, even on a hub with nothing to read; one that exists
// starts.
func TestDirectStreamChecksConsumerGroup(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "empty", PartitionCount: 2, ConsumerGroups: []string{"audit"}},
		emulator.HubConfig{Name: "full", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "full", "1", 0, 3)
	start := func(hub, group string) (time.Duration, error) {
		conf := testConf(srv, hub).SetConsumerGroup(group).SetStartingPosition(eventhubs.EndOfStream())
		ds, err := eventhubs.CreateDirectStream(newSSC(t, time.Hour), conf)
		if err != nil {
			t.Fatal(err)
		}
		ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
		began := time.Now()
		err = ds.Start(ctx, nil)
		ds.Stop()
		return time.Since(began), err
	}
	for _, hub := range []string{"empty", "full"} {
		took, err := start(hub, "typo")
		if errCode(err) != eventhubs.CodeNotFound || !strings.Contains(err.Error(), `consumer group "typo"`) {
			t.Errorf("%s hub, group typo: %v; want %s naming the group", hub, err, eventhubs.CodeNotFound)
		}
		if took > 3*time.Second {
			t.Errorf("%s hub, group typo: the error took %s, want it at once", hub, took)
		}
		t.Logf("%s hub: %v", hub, err)
	}
	if _, err := start("empty", "AUDIT"); err != nil {
		t.Errorf("empty hub, existing group AUDIT: %v", err)
	}
	if took, err := start("full", "$default"); err != nil || took > 3*time.Second {
		t.Errorf("full hub, group $default: %v after %s", err, took)
	}
}

// Finding 1 for checkpoints: a checkpoint written when the names were
// spelled otherwise (an older ehstream kept them as typed) resumes a
// stream whose names differ only in case.
func TestDirectStreamCheckpointOfAnotherSpelling(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "spelled", PartitionCount: 1})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "spelled", "0", 0, 8)
	dir := t.TempDir()
	store, err := streaming.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := strings.Cut(srv.Addr(), ":")
	if err := store.Save(ctx, &streaming.Checkpoint{Version: 1, Batch: 4, Done: true, Inputs: []streaming.InputCheckpoint{{
		Identity: streaming.Identity{"kind": "eventhubs", "namespace": strings.ToUpper(host), "eventHub": "SPELLED", "consumerGroup": "$Default"},
		Ranges:   []streaming.Range{{Source: "SPELLED", Partition: "0", From: 0, Until: 5}},
	}}}); err != nil {
		t.Fatal(err)
	}
	ssc, log, done := checkpointedStream(t, ctx, testConf(srv, "Spelled").SetConsumerGroup("$DEFAULT"), dir, nil)
	waitFor(t, 10*time.Second, "the events after the checkpoint", func() bool { return log.count() >= 3 })
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
	if got := log.seqsOf("0"); fmt.Sprint(got) != "[5 6 7]" {
		t.Errorf("read %v after the checkpoint, want [5 6 7]", got)
	}
}
