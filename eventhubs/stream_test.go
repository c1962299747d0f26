package eventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// newSSC is a Context with a short interval and no log line per batch.
func newSSC(t testing.TB, interval time.Duration) *streaming.Context {
	t.Helper()
	ssc, err := streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	return ssc
}

// runSSC runs ssc in a goroutine; the channel gets Run's result. The
// stream is stopped at the end of the test if still running.
func runSSC(t testing.TB, ctx context.Context, ssc *streaming.Context) <-chan error {
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		done <- ssc.Run(ctx)
		close(finished)
	}()
	t.Cleanup(func() {
		ssc.Stop(false)
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Errorf("stream did not stop within 30s")
		}
	})
	return done
}

func waitRun(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s")
		return nil
	}
}

// streamLog records what a stream's output saw.
type streamLog struct {
	mu      sync.Mutex
	seqs    map[string][]int64
	ranges  map[string][]eventhubs.OffsetRange
	batches []streaming.BatchInfo
}

func newStreamLog() *streamLog {
	return &streamLog{seqs: map[string][]int64{}, ranges: map[string][]eventhubs.OffsetRange{}}
}

func (l *streamLog) output(ctx context.Context, rdd *eventhubs.RDD) error {
	for _, r := range rdd.OffsetRanges() {
		l.mu.Lock()
		l.ranges[r.PartitionID] = append(l.ranges[r.PartitionID], r)
		l.mu.Unlock()
	}
	return rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		var seqs []int64
		for ev, err := range p.Events() {
			if err != nil {
				return err
			}
			if want := body(ev.PartitionID, int(ev.SequenceNumber)); string(ev.Body) != want {
				return fmt.Errorf("event %d of partition %s has body %q, want %q", ev.SequenceNumber, ev.PartitionID, ev.Body, want)
			}
			seqs = append(seqs, ev.SequenceNumber)
		}
		l.mu.Lock()
		l.seqs[p.Range().PartitionID] = append(l.seqs[p.Range().PartitionID], seqs...)
		l.mu.Unlock()
		return nil
	})
}

func (l *streamLog) OnBatchCompleted(b streaming.BatchInfo) {
	l.mu.Lock()
	l.batches = append(l.batches, b)
	l.mu.Unlock()
}

func (l *streamLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.seqs {
		n += len(s)
	}
	return n
}

// checkExactlyOnce fails unless partition p's events are [0, n) once each,
// in order, and its ranges are contiguous from 0.
func (l *streamLog) checkExactlyOnce(t *testing.T, p string, n int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seqs := l.seqs[p]
	if len(seqs) != n {
		t.Errorf("partition %s: saw %d events, want %d", p, len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(i) {
			t.Errorf("partition %s: event %d has sequence number %d: not exactly once in order", p, i, s)
			break
		}
	}
	next := int64(0)
	for _, r := range l.ranges[p] {
		if r.FromSeqNo != next {
			t.Errorf("partition %s: range %s does not start where the previous ended (%d)", p, r, next)
		}
		next = r.UntilSeqNo
	}
}

// A producer writes while the stream runs: every event once, in order, in
// contiguous ranges, never more than the rate per batch.
func TestDirectStreamWhileProducing(t *testing.T) {
	const partitions, perPartition, rate = 4, 600, 47
	srv := startEmulator(t, emulator.HubConfig{Name: "live", PartitionCount: partitions})
	ctx := testCtx(t, 120*time.Second)

	ssc := newSSC(t, 40*time.Millisecond)
	// Partition 3 has a rate of its own.
	const rate3 = 61
	ds, err := eventhubs.CreateDirectStream(ssc, testConf(srv, "live").SetMaxRatePerPartition(rate).
		SetMaxRatesPerPartition(map[string]int64{"3": rate3}))
	if err != nil {
		t.Fatal(err)
	}
	log := newStreamLog()
	ds.ForeachRDD(log.output)
	ssc.AddListener(log)
	done := runSSC(t, ctx, ssc)

	produced := produceInRounds(ctx, srv, "live", partitions, perPartition, 50)
	waitWhileRunning(t, 90*time.Second, "the stream to see every event", done, func() bool {
		return log.count() >= partitions*perPartition
	})
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	ssc.Stop(true)
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run after a graceful stop: %v", err)
	}

	for p := range partitions {
		log.checkExactlyOnce(t, fmt.Sprint(p), perPartition)
	}
	var events int64
	atRate := 0
	for _, b := range log.batches {
		events += b.Events
		for i, r := range b.Ranges {
			limit := int64(rate)
			if r.Partition == "3" {
				limit = rate3
			}
			if r.Count() > limit {
				t.Errorf("batch %d range %s reads %d events, more than the rate %d", b.Number, r, r.Count(), limit)
			}
			if r.Count() == limit {
				atRate++
			}
			if b.Lag[i] < 0 {
				t.Errorf("batch %d range %s: negative lag %d", b.Number, r, b.Lag[i])
			}
		}
		if len(b.Ranges) != partitions {
			t.Errorf("batch %d has %d ranges, want one per partition (%d)", b.Number, len(b.Ranges), partitions)
		}
	}
	if events != partitions*perPartition {
		t.Errorf("listeners counted %d events, want %d", events, partitions*perPartition)
	}
	if atRate == 0 {
		t.Errorf("no batch read a full %d events: the rate limit was never exercised", rate)
	}
	// Receivers stay open across batches: one link per partition, reused,
	// give or take a link re-attached after a slow attach on a loaded
	// machine (a check of an idle link that timed out); a link per batch
	// would be one per range.
	links := int(srv.Stats().ConsumerLinks)
	if ranges := len(log.batches) * partitions; links < partitions || links > 2*partitions || links*2 > ranges {
		t.Errorf("%d receive links attached over %d batches (%d ranges), want %d (one per partition, reused), at most %d", links, len(log.batches), ranges, partitions, 2*partitions)
	}
	t.Logf("%d batches, %d ranges at the rate", len(log.batches), atRate)
}

// With 2-second retention the first events are gone: FailOnDataLoss stops
// the stream with an error naming hub, partition, wanted and available;
// without it the batch skips them and says how many.
func TestDirectStreamDataLoss(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "short", PartitionCount: 1, Retention: 2 * time.Second})
	ctx := testCtx(t, 90*time.Second)
	fill(t, ctx, srv, "short", "0", 0, 5)
	waitFor(t, 30*time.Second, "retention to remove the first 5 events", func() bool {
		hp, err := eventhubs.DescribeHub(ctx, testConf(srv, "short"))
		return err == nil && hp.Partitions[0].First == 5
	})
	fill(t, ctx, srv, "short", "0", 5, 3)

	t.Run("fail", func(t *testing.T) {
		ssc := newSSC(t, 20*time.Millisecond)
		conf := testConf(srv, "short").SetStartingPosition(eventhubs.FromSequenceNumber(0, true))
		ds, err := eventhubs.CreateDirectStream(ssc, conf)
		if err != nil {
			t.Fatal(err)
		}
		ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
		err = waitRun(t, runSSC(t, ctx, ssc))
		var e *eventhubs.Error
		if !errors.As(err, &e) || e.Code != eventhubs.CodeDataLoss {
			t.Fatalf("Run = %v, want a %s error", err, eventhubs.CodeDataLoss)
		}
		for _, want := range []string{`"short"`, "partition 0", "wanted sequence number 0", "first available is 5"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %s", err, want)
			}
		}
	})
	t.Run("skip", func(t *testing.T) {
		// Fresh events, so that some are left to read: retention may take
		// more of the old ones meanwhile.
		fill(t, ctx, srv, "short", "0", 8, 3)
		ssc := newSSC(t, 20*time.Millisecond)
		conf := testConf(srv, "short").SetStartingPosition(eventhubs.FromSequenceNumber(0, true)).SetFailOnDataLoss(false)
		ds, err := eventhubs.CreateDirectStream(ssc, conf)
		if err != nil {
			t.Fatal(err)
		}
		log := newStreamLog()
		ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
			if err := log.output(ctx, rdd); err != nil {
				return err
			}
			if rdd.Count() > 0 {
				ssc.Stop(true)
			}
			return nil
		})
		ssc.AddListener(log)
		if err := waitRun(t, runSSC(t, ctx, ssc)); err != nil {
			t.Fatal(err)
		}
		got := log.seqs["0"]
		last := log.batches[len(log.batches)-1]
		if r := last.Ranges[0]; r.From != 0 || r.Until != 11 {
			t.Errorf("range %s, want [0, 11): the range starts where the stream stood", r)
		}
		if len(got) == 0 || got[len(got)-1] != 10 || got[0] < 5 || int64(len(got)) != 11-got[0] {
			t.Fatalf("read %v, want the events from the first available one to 10", got)
		}
		if last.Skipped != got[0] || last.Events != int64(len(got)) {
			t.Errorf("batch reports %d events and %d skipped, want %d and %d", last.Events, last.Skipped, len(got), got[0])
		}
		if len(last.RangeSkipped) != 1 || last.RangeSkipped[0] != got[0] {
			t.Errorf("batch reports %v skipped per range, want [%d]", last.RangeSkipped, got[0])
		}
	})
}

// A graceful stop lets the running batch finish and checkpoint; an
// immediate one cancels it and leaves it to be replayed.
func TestDirectStreamStop(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "stop", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "stop", "0", 0, 20)
	fill(t, ctx, srv, "stop", "1", 0, 20)

	for _, graceful := range []bool{true, false} {
		t.Run(fmt.Sprintf("graceful=%v", graceful), func(t *testing.T) {
			store, err := streaming.NewDirStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ssc := newSSC(t, 10*time.Millisecond)
			if err := ssc.Checkpoint(store); err != nil {
				t.Fatal(err)
			}
			ds, err := eventhubs.CreateDirectStream(ssc, testConf(srv, "stop").SetMaxRatePerPartition(10))
			if err != nil {
				t.Fatal(err)
			}
			entered, release := make(chan struct{}), make(chan struct{})
			var read int
			var batchTime time.Time
			ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
				batchTime = rdd.BatchTime()
				close(entered)
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				evs, err := rdd.Collect(ctx)
				read = len(evs)
				return err
			})
			done := runSSC(t, ctx, ssc)
			<-entered
			ssc.Stop(graceful)
			if graceful {
				select {
				case err := <-done:
					t.Fatalf("Run returned %v while its batch was still running", err)
				default:
				}
				close(release)
			}
			if err := waitRun(t, done); err != nil {
				t.Fatalf("Run: %v", err)
			}
			ck, err := store.Load(ctx)
			if err != nil || ck == nil {
				t.Fatalf("Load = %v, %v", ck, err)
			}
			if ck.Batch != 1 || ck.Done != graceful || !ck.Time.Equal(batchTime) {
				t.Errorf("checkpoint: batch %d at %s done %v; want batch 1 at the RDD's BatchTime %s, done %v", ck.Batch, ck.Time, ck.Done, batchTime, graceful)
			}
			if graceful && read != 20 {
				t.Errorf("the stopped batch read %d events, want 20", read)
			}
		})
	}
}

// A checkpoint holds offsets and identity, not code: a changed program
// continues from it; a stream of another hub or consumer group refuses it.
func TestDirectStreamCheckpointChangedProgram(t *testing.T) {
	srv := startEmulator(t,
		emulator.HubConfig{Name: "ck", PartitionCount: 2, ConsumerGroups: []string{"other"}},
		emulator.HubConfig{Name: "ck2", PartitionCount: 2})
	ctx := testCtx(t, 90*time.Second)
	fill(t, ctx, srv, "ck", "0", 0, 100)
	fill(t, ctx, srv, "ck", "1", 0, 100)
	dir := t.TempDir()
	newStream := func(conf *eventhubs.Conf) (*streaming.Context, *eventhubs.DirectStream) {
		store, err := streaming.NewDirStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		ssc := newSSC(t, 10*time.Millisecond)
		if err := ssc.Checkpoint(store); err != nil {
			t.Fatal(err)
		}
		ds, err := eventhubs.CreateDirectStream(ssc, conf)
		if err != nil {
			t.Fatal(err)
		}
		return ssc, ds
	}
	conf := testConf(srv, "ck").SetMaxRatePerPartition(10)

	// Program A counts events and stops after 50 of them.
	log := newStreamLog()
	ssc, ds := newStream(conf)
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		err := log.output(ctx, rdd)
		if log.count() >= 50 {
			ssc.Stop(true)
		}
		return err
	})
	if err := waitRun(t, runSSC(t, ctx, ssc)); err != nil {
		t.Fatal(err)
	}
	a := log.count()

	// Program B is different code: it only collects bodies.
	var mu sync.Mutex
	var bodies []string
	ssc, ds = newStream(conf.Clone().SetStartingPosition(eventhubs.EndOfStream())) // the checkpoint wins
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		evs, err := rdd.Collect(ctx)
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evs {
			bodies = append(bodies, string(e.Body))
		}
		if len(bodies)+a >= 200 {
			ssc.Stop(true)
		}
		return err
	})
	if err := waitRun(t, runSSC(t, ctx, ssc)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for p, seqs := range log.seqs {
		for _, s := range seqs {
			seen[body(p, int(s))]++
		}
	}
	for _, b := range bodies {
		seen[b]++
	}
	for _, p := range []string{"0", "1"} {
		for i := range 100 {
			if n := seen[body(p, i)]; n != 1 {
				t.Errorf("%s seen %d times across the two programs, want once", body(p, i), n)
			}
		}
	}

	// Another host name of the namespace is refused too, naming the
	// checkpoint's, never started over.
	alias := eventhubs.NewConf(strings.Replace(srv.ConnectionString("ck"), "sb://127.0.0.1:", "sb://localhost:", 1))
	for _, other := range []*eventhubs.Conf{conf.Clone().SetConsumerGroup("other"), testConf(srv, "ck2"), alias} {
		ssc, ds := newStream(other)
		ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
		err := waitRun(t, runSSC(t, ctx, ssc))
		var ce *streaming.CheckpointError
		if !errors.As(err, &ce) {
			t.Fatalf("a stream of %s/%s with the checkpoint of ck/$Default: err = %v, want a CheckpointError", other.EventHubName(), other.ConsumerGroup(), err)
		}
		if other == alias && !strings.Contains(err.Error(), `namespace "127.0.0.1", now "localhost"`) {
			t.Errorf("the stream through localhost: %v, want a refusal naming the checkpoint's namespace 127.0.0.1", err)
		}
		t.Logf("refused: %v", err)
	}
}

// Starting positions by offset and enqueued time are resolved once, with a
// receiver that does not take the partition from its current reader.
func TestDirectStreamStartingPositions(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "pos", PartitionCount: 5})
	ctx := testCtx(t, 60*time.Second)
	conf := testConf(srv, "pos")
	_, after := fillBeforeAndAfter(t, ctx, srv, conf, 5)
	// Not exclusive: the pooled receivers must not hold the partitions.
	rdd, err := eventhubs.CreateRDD(ctx, conf.Clone().SetExclusive(false), []eventhubs.OffsetRange{
		{Name: "pos", PartitionID: "0", FromSeqNo: 3, UntilSeqNo: 4},
		{Name: "pos", PartitionID: "4", FromSeqNo: 3, UntilSeqNo: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Other programs read partition 0: first one without an owner level,
	// whom the stream must not disturb.
	shared := newReader(t, ctx, srv, "pos", "0", false)

	ssc := newSSC(t, time.Hour)
	positions := map[string]eventhubs.EventPosition{
		"0": eventhubs.FromOffset(evs[0].Offset, true),
		"1": eventhubs.FromEnqueuedTime(after),
		"2": eventhubs.EndOfStream(),
		"3": eventhubs.FromSequenceNumber(6, false),
		"4": eventhubs.FromOffset(evs[1].Offset, false),
	}
	// A stream that is not exclusive: an exclusive one takes its
	// partitions when it starts, once the positions are resolved.
	ds, err := eventhubs.CreateDirectStream(ssc, conf.Clone().SetStartingPositions(positions).SetExclusive(false))
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
	if err := ds.Start(ctx, nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer ds.Stop()
	if err := shared.receive(ctx); err != nil {
		t.Fatalf("the partition's other reader failed after the stream resolved its position: %v", err)
	}
	plan, err := ds.Plan(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"0": 3, "1": 5, "2": 10, "3": 7, "4": 4}
	for _, r := range plan.Ranges {
		if r.From != want[r.Partition] {
			t.Errorf("partition %s starts at %d, want %d", r.Partition, r.From, want[r.Partition])
		}
	}

	// An exclusive reader holds partition 0: resolving fails and says so,
	// and the reader keeps the partition.
	exclusive := newReader(t, ctx, srv, "pos", "0", true)
	ds2, err := eventhubs.CreateDirectStream(newSSC(t, time.Hour), conf.Clone().SetStartingPositions(positions))
	if err != nil {
		t.Fatal(err)
	}
	ds2.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
	err = ds2.Start(ctx, nil)
	defer ds2.Stop()
	if errCode(err) != eventhubs.CodeOwnershipLost || !strings.Contains(err.Error(), "offset:") {
		t.Fatalf("Start while another reader holds the partition: err = %v, want %s naming the position", err, eventhubs.CodeOwnershipLost)
	}
	t.Logf("refused: %v", err)
	if err := exclusive.receive(ctx); err != nil {
		t.Fatalf("the exclusive reader lost the partition to the stream's resolving: %v", err)
	}
}
