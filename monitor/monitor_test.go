package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/streaming"
)

// fakeInput plans rate events per batch of partitions "0" and "1" of hub
// "h", whose ends stand at end; fail, when it returns an error, fails Run.
type fakeInput struct {
	mu      sync.Mutex
	rate    int64
	limit   int64 // the Plan's Rate
	end     map[string]int64
	next    map[string]int64
	parts   []string
	skip    map[string]int64 // events of a partition the next read skips
	fail    func(b *streaming.Batch) error
	batches int
}

func newFake(rate, end int64) *fakeInput {
	return &fakeInput{rate: rate, end: map[string]int64{"0": end, "1": end}, next: map[string]int64{}, parts: []string{"0", "1"}, skip: map[string]int64{}}
}

func (f *fakeInput) Identity() streaming.Identity                  { return streaming.Identity{"kind": "fake"} }
func (f *fakeInput) Start(context.Context, map[string]int64) error { return nil }
func (f *fakeInput) Stop()                                         {}
func (f *fakeInput) Plan(context.Context, time.Time) (streaming.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := streaming.Plan{Rate: f.limit}
	for _, id := range f.parts {
		from := f.next[id]
		until := min(from+f.rate, f.end[id])
		f.next[id] = until
		p.Ranges = append(p.Ranges, streaming.Range{Source: "h", Partition: id, From: from, Until: until})
		p.Lag = append(p.Lag, f.end[id]-until)
	}
	return p, nil
}

func (f *fakeInput) Run(ctx context.Context, b *streaming.Batch) (streaming.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	if f.fail != nil {
		if err := f.fail(b); err != nil {
			return streaming.Result{}, err
		}
	}
	var res streaming.Result
	res.RangeSkipped = make([]int64, len(b.Ranges))
	for i, r := range b.Ranges {
		s := min(f.skip[r.Partition], r.Count())
		f.skip[r.Partition] -= s
		res.RangeSkipped[i] = s
		res.Skipped += s
		res.Events += r.Count() - s
	}
	return res, nil
}

// runStream runs ssc until stop says so (after each batch heard), and
// returns what Run returned.
func runStream(t *testing.T, ssc *streaming.Context, stop func(streaming.BatchInfo) bool) error {
	t.Helper()
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if stop(b) {
			ssc.Stop(true)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ssc.Run(ctx)
}

func newContext(t *testing.T, interval time.Duration, opts *streaming.ContextOptions) *streaming.Context {
	t.Helper()
	if opts == nil {
		opts = &streaming.ContextOptions{}
	}
	opts.NoBatchLog = true
	ssc, err := streaming.NewContext(interval, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ssc
}

// scrape parses /metrics with Prometheus's text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value is the value of family name's metric with the labels given as
// name=value pairs; ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
metrics:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue metrics
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// The metrics, the JSON and the partitions say what the batches did: events
// per partition, lag and positions, skipped events, outcomes.
func TestMetricsFollowTheBatches(t *testing.T) {
	ssc := newContext(t, time.Millisecond, nil)
	in := newFake(30, 100)
	in.skip["1"] = 4
	in.limit = 600 // as backpressure would say
	if err := ssc.AddInput(in); err != nil {
		t.Fatal(err)
	}
	m := New(ssc, &Options{Job: "archive", Hub: "h", ConsumerGroup: "cg", Sink: "postgres://u:SECRETPW@db/x",
		ReadAheadBytes: func() int64 { return 12345 }})
	if err := runStream(t, ssc, func(b streaming.BatchInfo) bool { return b.Number == 2 }); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ehstream_batches_total", []string{"outcome", "completed"}, 2},
		{"ehstream_batches_total", []string{"outcome", "failed"}, 0},
		{"ehstream_batches_total", []string{"outcome", "abandoned"}, 0},
		{"ehstream_events_read_total", []string{"hub", "h", "partition", "0"}, 60},
		{"ehstream_events_read_total", []string{"hub", "h", "partition", "1"}, 56},
		{"ehstream_events_skipped_total", []string{"hub", "h", "partition", "1"}, 4},
		{"ehstream_events_skipped_total", []string{"hub", "h", "partition", "0"}, 0},
		{"ehstream_partition_lag_events", []string{"partition", "0"}, 40},
		{"ehstream_partition_next_sequence_number", []string{"partition", "1"}, 60},
		{"ehstream_partition_end_sequence_number", []string{"partition", "1"}, 100},
		{"ehstream_owned_partitions", nil, 2},
		{"ehstream_batch_processing_duration_seconds", nil, 2},
		{"ehstream_batch_scheduling_delay_seconds", nil, 2},
		{"ehstream_batch_interval_seconds", nil, 0.001},
		{"ehstream_rate_limit_events_per_second", nil, 600},
		{"ehstream_read_ahead_bytes", nil, 12345},
		{"ehstream_stream_info", []string{"job", "archive", "sink", "postgres://u:xxxxx@db/x"}, 1},
		{"ehstream_build_info", []string{"goversion", runtime.Version(), "revision", "unknown", "version", "(devel)"}, 1}, // go test stamps none
	} {
		if got, ok := value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if last, ok := value(fams, "ehstream_last_completed_batch_timestamp_seconds"); !ok || time.Since(time.Unix(int64(last), 0)) > time.Minute {
		t.Errorf("ehstream_last_completed_batch_timestamp_seconds = %v, want about now", last)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s: the Go and process collectors are missing", name)
		}
	}
	body := get(t, m, "/metrics") + get(t, m, "/api/status") + get(t, m, "/")
	if strings.Contains(body, "SECRETPW") {
		t.Errorf("the monitor shows the sink's password")
	}

	if bs := m.Batches(); len(bs) != 2 || bs[1].RateLimit != 600 || !regexp.MustCompile(`"rateLimit": ?600\b`).MatchString(get(t, m, "/api/batches")) {
		t.Errorf("batches %+v; want the rate limit 600 in each, and in /api/batches", bs)
	}

	ps := m.Partitions()
	if len(ps) != 2 || ps[1].Next != 60 || ps[1].End != 100 || ps[1].Lag != 40 || ps[1].Skipped != 4 || ps[1].Events != 56 || ps[1].LastBatch != 2 || !ps[1].Reading {
		t.Errorf("partitions %+v; want partition 1 at 60 of 100, lag 40, 4 skipped, 56 read, last read by batch 2", ps)
	}
	st := m.Status()
	if st.Batches[Completed] != 2 || st.Events != 116 || st.Skipped != 4 || st.Lag != 80 || st.Partitions != 2 || st.State != "stopped" || st.Sink != "postgres://u:xxxxx@db/x" {
		t.Errorf("status %+v", st)
	}
}

func get(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// However long the stream runs, the monitor keeps the last History
// batches, and its charts cover them.
func TestHistoryIsBounded(t *testing.T) {
	ssc := newContext(t, time.Microsecond, &streaming.ContextOptions{Retry: func(error, int) (time.Duration, bool) { return 0, true }})
	in := newFake(1, 1<<40)
	fails := 0
	in.fail = func(b *streaming.Batch) error {
		if b.Number%3 == 0 && fails < 120 {
			fails++
			return errors.New("down")
		}
		return nil
	}
	ssc.AddInput(in)
	m := New(ssc, &Options{History: 50})
	if err := runStream(t, ssc, func(b streaming.BatchInfo) bool { return b.Number == 200 }); err != nil {
		t.Fatal(err)
	}
	var done, failed int
	for _, b := range m.Batches() {
		switch b.Outcome {
		case Completed:
			done++
		case Failed:
			failed++
		}
	}
	if done != 50 || failed != 50 {
		t.Errorf("kept %d completed and %d failed batches, want 50 of each", done, failed)
	}
	if st := m.Status(); st.Batches[Completed] != 200 || st.Batches[Failed] != 120 {
		t.Errorf("counted %v, want 200 completed and 120 failed", st.Batches)
	}
	if New(newContext(t, time.Second, nil), nil).opts.History != DefaultHistory {
		t.Errorf("the default history is not %d batches", DefaultHistory)
	}
}

// Ready: once a batch completed; not after a failed one, nor when none
// completed for three intervals; ready again after the next completes.
func TestReadiness(t *testing.T) {
	ssc := newContext(t, time.Second, nil)
	m := New(ssc, nil)
	now := time.Now()
	m.now = func() time.Time { return now }
	code := func() int {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	if code() != 503 || !strings.Contains(fmt.Sprint(m.Ready()), "no batch has completed yet") {
		t.Errorf("before any batch: %d %v, want 503", code(), m.Ready())
	}
	b := streaming.BatchInfo{Number: 1, Time: now}
	m.OnBatchCompleted(b)
	if code() != 200 {
		t.Errorf("after batch 1: %d %v, want 200", code(), m.Ready())
	}
	now = now.Add(2 * time.Second)
	m.OnBatchFailed(streaming.BatchFailure{Number: 2, Time: now, Attempt: 1, Retrying: true, Err: errors.New("database is locked")})
	if code() != 503 || !strings.Contains(fmt.Sprint(m.Ready()), "database is locked") {
		t.Errorf("after a failed batch: %d %v, want 503 naming the error", code(), m.Ready())
	}
	m.OnBatchCompleted(streaming.BatchInfo{Number: 2, Time: now})
	if code() != 200 {
		t.Errorf("after batch 2 completed: %d %v, want 200", code(), m.Ready())
	}
	now = now.Add(3*time.Second + time.Millisecond)
	if code() != 503 || !strings.Contains(fmt.Sprint(m.Ready()), "three batch intervals") {
		t.Errorf("three intervals after the last batch: %d %v, want 503", code(), m.Ready())
	}
	m.OnBatchCompleted(streaming.BatchInfo{Number: 3, Time: now})
	if code() != 200 {
		t.Errorf("after batch 3: %d %v, want 200", code(), m.Ready())
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("/healthz: %d", rec.Code)
	}
}

// A monitor added as a listener again still counts each batch once; two
// monitors in one process keep their metrics apart.
func TestAddedTwiceAndTwoMonitors(t *testing.T) {
	ssc := newContext(t, time.Millisecond, nil)
	ssc.AddInput(newFake(10, 100))
	m := New(ssc, nil)
	ssc.AddListener(m)
	other := newContext(t, time.Millisecond, nil)
	other.AddInput(newFake(10, 100))
	m2 := New(other, nil)
	if err := runStream(t, ssc, func(b streaming.BatchInfo) bool { return b.Number == 3 }); err != nil {
		t.Fatal(err)
	}
	if got, _ := value(scrape(t, m), "ehstream_batches_total", "outcome", "completed"); got != 3 {
		t.Errorf("completed batches = %v, want 3: a monitor added twice counted batches twice", got)
	}
	if got, _ := value(scrape(t, m2), "ehstream_batches_total", "outcome", "completed"); got != 0 {
		t.Errorf("the other stream's monitor counted %v batches, want 0", got)
	}
}

// A partition this replica lost says why, and its gauges go once the
// batches no longer plan it; a gained one names the owner.
func TestOwnershipChanges(t *testing.T) {
	ssc := newContext(t, time.Millisecond, nil)
	in := newFake(10, 100)
	ssc.AddInput(in)
	m := New(ssc, &Options{Hub: "h", Owner: "replica-1"})
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if b.Number == 2 {
			m.OwnershipChanged(balance.Change{PartitionID: "1", Reason: "taken by replica-2"})
			in.parts = []string{"0"} // runs on the stream's goroutine, between batches
		}
	}))
	if err := runStream(t, ssc, func(b streaming.BatchInfo) bool { return b.Number == 3 }); err != nil {
		t.Fatal(err)
	}
	ps := m.Partitions()
	if len(ps) != 2 || ps[0].Owner != "replica-1" || ps[1].Owner != "" || ps[1].Reading || ps[1].Note != "lost: taken by replica-2" {
		t.Errorf("partitions %+v; want 0 owned by replica-1, 1 lost to replica-2", ps)
	}
	fams := scrape(t, m)
	if _, ok := value(fams, "ehstream_partition_lag_events", "partition", "1"); ok {
		t.Errorf("the lost partition's lag is still a metric")
	}
	if got, _ := value(fams, "ehstream_owned_partitions"); got != 1 {
		t.Errorf("ehstream_owned_partitions = %v, want 1", got)
	}
	m.OwnershipChanged(balance.Change{PartitionID: "1", Gained: true, Reason: "relinquished"})
	if p := m.Partitions()[1]; p.Owner != "replica-1" || p.Note != "gained: relinquished" {
		t.Errorf("partition 1 after gaining it: %+v", p)
	}
}

// The page and its assets come from the binary: nothing from a network.
func TestPageIsEmbedded(t *testing.T) {
	ssc := newContext(t, time.Second, nil)
	m := New(ssc, nil)
	page := get(t, m, "/")
	if !strings.Contains(page, "assets/uplot/uPlot.iife.min.js") || strings.Contains(page, "https://") || strings.Contains(page, "http://") {
		t.Errorf("the page loads something from elsewhere, or not uPlot:\n%s", page)
	}
	for _, p := range []string{"/assets/app.js", "/assets/style.css", "/assets/uplot/uPlot.iife.min.js", "/assets/uplot/uPlot.min.css", "/assets/uplot/LICENSE"} {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("%s: %d, %d bytes", p, rec.Code, rec.Body.Len())
		}
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if rec.Code != 404 {
		t.Errorf("/nothing: %d, want 404", rec.Code)
	}
}
