package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/streaming"
)

const pausedInterval = 100 * time.Millisecond

// ehstream_partition_lag_seconds is now minus the enqueued time of the
// oldest event the job has not read, within one batch interval, and grows
// while an output is paused (blocked on a channel, so that the positions
// stand) and a producer writes. In the stream's own consumer group the
// age of a partition it holds comes from its own read: known for the
// partition the paused output read, unknown, and said so, for the one it
// did not.
func TestLagSecondsWhileOutputPaused(t *testing.T) {
	srv := startHub(t)
	m, at := pausedStream(t, srv, nil, true)
	oldest := map[string]time.Time{"0": enqueuedAt(t, srv, "0", at)}
	checkLagSeconds(t, m, oldest)
	ps := partitionsOf(t, m)
	if p := ps["1"]; p.LagSeconds != nil || !strings.Contains(p.UnreadError, "consumer group") || p.Lag <= 0 {
		t.Errorf("partition 1, which the paused output did not read: %+v; want no age, an error naming the consumer group, and a lag", p)
	}
	if _, ok := gauge(scrape(t, m), "ehstream_partition_lag_seconds", "1"); ok {
		t.Errorf("ehstream_partition_lag_seconds of partition 1 is served, though unknown")
	}
}

// With WatchOptions.LagConsumerGroup the watch reads the age of every
// partition itself, even when the paused output read none of its events.
func TestLagSecondsWithLagConsumerGroup(t *testing.T) {
	srv := startHub(t)
	m, at := pausedStream(t, srv, &eventhubs.WatchOptions{Every: pausedInterval, LagConsumerGroup: "watch"}, false)
	checkLagSeconds(t, m, map[string]time.Time{"0": enqueuedAt(t, srv, "0", at), "1": enqueuedAt(t, srv, "1", at)})
}

func startHub(t *testing.T) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "paused", PartitionCount: 2, ConsumerGroups: []string{"watch"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	return srv
}

// pausedStream runs a stream of both partitions with a monitor that
// watches the job, reads the 5 events each partition holds, then pauses
// its output in the next batch, which 20 events later sent to each
// partition make: the output reads partition 0's events (and none of
// partition 1's) first when readFirst says so. A producer goes on writing
// to both. It returns the monitor and the position where the stream
// stands, 5.
func pausedStream(t *testing.T, srv *emulator.Server, watch *eventhubs.WatchOptions, readFirst bool) (*monitor.Monitor, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	for _, p := range []string{"0", "1"} {
		send(t, ctx, srv, p, 5)
	}
	ssc, err := streaming.NewContext(pausedInterval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(srv.ConnectionString("paused")).SetReceiverTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out := &pausingOutput{t: t, readFirst: readFirst, release: make(chan struct{}), paused: make(chan struct{})}
	ds.ForeachRDD(out.run)
	m := monitor.New(ssc, &monitor.Options{Job: "paused", Hub: "paused"})
	if watch == nil {
		watch = &eventhubs.WatchOptions{Every: pausedInterval}
	}
	if err := ds.WatchJob(m.JobObserved, watch); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ssc.Run(ctx) }()
	t.Cleanup(func() {
		close(out.release)
		ssc.Stop(false)
		<-done
	})
	waitUntil(t, 30*time.Second, "the first 10 events read", func() bool { return out.read.Load() == 10 })
	for _, p := range []string{"0", "1"} {
		send(t, ctx, srv, p, 20)
	}
	select {
	case <-out.paused:
	case <-time.After(30 * time.Second):
		t.Fatal("the output did not pause")
	}
	produce(t, ctx, srv)
	return m, 5
}

// pausingOutput reads every event of the batches until 10 are read, then
// pauses in the next batch until release: having read partition 0's
// events when readFirst says so.
type pausingOutput struct {
	t               *testing.T
	readFirst       bool
	read            atomic.Int64
	pausing         atomic.Bool
	release, paused chan struct{}
}

func (o *pausingOutput) run(ctx context.Context, rdd *eventhubs.RDD) error {
	if o.read.Load() < 10 || !o.pausing.CompareAndSwap(false, true) {
		return rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			return o.events(p)
		})
	}
	if o.readFirst { // the stream's watch hears of the first event read
		err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			if p.Range().PartitionID != "0" {
				return nil
			}
			return o.events(p)
		})
		if err != nil {
			o.t.Errorf("the paused batch's read: %v", err)
		}
	}
	close(o.paused)
	select {
	case <-o.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}

func (o *pausingOutput) events(p *eventhubs.Partition) error {
	for _, err := range p.Events() {
		if err != nil {
			return err
		}
		o.read.Add(1)
	}
	return nil
}

// produce writes an event to each partition every 50 ms until the test
// ends.
func produce(t *testing.T, ctx context.Context, srv *emulator.Server) {
	ctx, cancel := context.WithCancel(ctx)
	wrote := make(chan struct{})
	t.Cleanup(func() { cancel(); <-wrote })
	go func() {
		defer close(wrote)
		for ctx.Err() == nil {
			for _, p := range []string{"0", "1"} {
				send(t, ctx, srv, p, 1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

// checkLagSeconds checks, twice a second apart, that each partition's
// lag_seconds is now minus the enqueued time given, within one batch
// interval, and that its lag in events grows meanwhile.
func checkLagSeconds(t *testing.T, m *monitor.Monitor, oldest map[string]time.Time) {
	t.Helper()
	lag := map[string]float64{}
	for round := range 2 {
		for p, enqueued := range oldest {
			var got float64
			var want time.Duration
			waitUntil(t, 10*time.Second, "partition "+p+"'s lag_seconds", func() bool {
				var ok bool
				got, ok = gauge(scrape(t, m), "ehstream_partition_lag_seconds", p)
				want = time.Since(enqueued)
				return ok && math.Abs(got-want.Seconds()) <= pausedInterval.Seconds()
			})
			events, _ := gauge(scrape(t, m), "ehstream_partition_lag_events", p)
			t.Logf("round %d, partition %s: lag_seconds %.3f, now - enqueued %.3f, lag_events %v", round, p, got, want.Seconds(), events)
			if round == 1 && events <= lag[p] {
				t.Errorf("partition %s: lag_events %v, not more than %v a second before, while a producer writes", p, events, lag[p])
			}
			lag[p] = events
		}
		if round == 0 {
			time.Sleep(time.Second) // the time the check measures passing, not a wait for an event
		}
	}
}

// enqueuedAt reads when partition p's event seq was enqueued, in a
// consumer group of its own.
func enqueuedAt(t *testing.T, srv *emulator.Server, p string, seq int64) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conf := eventhubs.NewConf(srv.ConnectionString("paused")).SetConsumerGroup("watch")
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "paused", PartitionID: p, FromSeqNo: seq, UntilSeqNo: seq + 1}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil || len(evs) != 1 {
		t.Fatalf("reading event %d of partition %s: %v", seq, p, err)
	}
	return evs[0].EnqueuedTime
}

func send(t *testing.T, ctx context.Context, srv *emulator.Server, partition string, n int) {
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("paused"), "", nil)
	if err != nil {
		t.Error(err)
		return
	}
	defer p.Close(context.Background())
	batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
	for i := 0; err == nil && i < n; i++ {
		err = batch.AddEventData(&azeventhubs.EventData{Body: []byte(fmt.Sprint(i))}, nil)
	}
	if err == nil {
		err = p.SendEventDataBatch(ctx, batch, nil)
	}
	if err != nil && ctx.Err() == nil {
		t.Error(err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scrape(t *testing.T, m *monitor.Monitor) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// gauge is family name's value for partition p.
func gauge(fams map[string]*dto.MetricFamily, name, p string) (float64, bool) {
	for _, mt := range fams[name].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "partition" && l.GetValue() == p {
				return mt.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func partitionsOf(t *testing.T, m *monitor.Monitor) map[string]monitor.Partition {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/api/partitions", nil))
	var ps []monitor.Partition
	if err := json.Unmarshal(rec.Body.Bytes(), &ps); err != nil {
		t.Fatal(err)
	}
	out := map[string]monitor.Partition{}
	for _, p := range ps {
		out[p.Partition] = p
	}
	return out
}
