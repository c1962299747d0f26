package monitor

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/dbspec"
	"github.com/ehstream/ehstream/streaming"
)

// DefaultHistory is how many completed batches a Monitor keeps: the
// charts' span, as in Spark's Streaming tab.
const DefaultHistory = 300

// Options holds what a Monitor shows about the stream; nil means none.
type Options struct {
	// Job, Namespace, Hub, ConsumerGroup and Sink name the stream on the
	// page and in ehstream_stream_info; Namespace (the namespace's host, as
	// package offsets names it) and the hub label the partitions' metrics
	// too. A URL's password in Sink is hidden, the rest shown as written;
	// keep other secrets out.
	Job, Namespace, Hub, ConsumerGroup, Sink string
	// Owner is this replica's owner ID when replicas share the partitions
	// (eventhubs.DirectStream.OwnerID); "" when the stream reads them all.
	Owner string
	// History is how many completed batches the page and /api/batches
	// keep, and as many failed or abandoned ones. 0 means DefaultHistory.
	History int
	// ReadAheadBytes, when set, is served at each scrape as the gauge
	// ehstream_read_ahead_bytes: give the stream's
	// eventhubs.DirectStream.ReadAheadBytes.
	ReadAheadBytes func() int64
}

// Monitor hears a streaming.Context's batches and serves what it heard:
// a status page, JSON, Prometheus metrics and health checks. Create it
// with New; it is safe for concurrent use.
type Monitor struct {
	ssc      *streaming.Context
	opts     Options
	interval time.Duration
	started  time.Time
	now      func() time.Time
	reg      *prometheus.Registry
	met      *metrics
	mux      *http.ServeMux

	mu          sync.Mutex
	completed   ring[Batch]
	problems    ring[Batch] // failed and abandoned
	parts       map[partKey]*partState
	counts      map[string]int64
	events      int64
	skipped     int64
	lastDone    *Batch
	lastFailure *Batch     // cleared by a later completed batch
	view        *jobViewed // the last view of the whole job, nil without a watch
}

type partKey struct{ hub, partition string }

// New returns a Monitor of ssc and adds it to ssc's listeners (a Monitor
// added again still counts each batch once). Add it before ssc runs, so
// that it hears the first batch.
func New(ssc *streaming.Context, opts *Options) *Monitor {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	o.Sink = dbspec.Redact(o.Sink) // as written, but the password: "postgres://u:xxxxx@db/x table events"
	m := &Monitor{ssc: ssc, opts: o, interval: ssc.BatchInterval(), started: time.Now(), now: time.Now,
		reg: prometheus.NewRegistry(), completed: newRing[Batch](o.History), problems: newRing[Batch](o.History),
		parts: map[partKey]*partState{}, counts: map[string]int64{}}
	m.met = newMetrics(m.reg, m)
	m.met.interval.Set(m.interval.Seconds())
	m.met.info.WithLabelValues(o.Job, o.Namespace, o.Hub, o.ConsumerGroup, o.Sink, o.Owner).Set(1)
	m.mux = m.routes()
	ssc.AddListener(m)
	return m
}

// Registry is the Monitor's Prometheus registry, which /metrics serves:
// register a program's own collectors in it to serve them beside.
func (m *Monitor) Registry() *prometheus.Registry { return m.reg }

// OnBatchCompleted records a completed batch (streaming.Listener).
func (m *Monitor) OnBatchCompleted(b streaming.BatchInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastDone != nil && m.lastDone.Number == b.Number && m.lastDone.Time.Equal(b.Time) {
		return // heard twice: the monitor was added as a listener again
	}
	rec := m.record(Completed, b.Number, b.Time, b.Replay, b.Ranges, b.Lag, b.RangeSkipped, b.SchedulingDelay, b.ProcessingTime)
	rec.Events, rec.Skipped, rec.RateLimit = b.Events, b.Skipped, b.Rate
	rec.Outputs = outputsOf(b.Outputs)
	if m.interval > 0 {
		rec.InputRate = float64(b.Events) / m.interval.Seconds()
	}
	m.completed.add(rec)
	m.lastDone, m.lastFailure = &rec, nil
	m.counts[Completed]++
	m.events += b.Events
	m.skipped += b.Skipped

	m.met.batches.WithLabelValues(Completed).Inc()
	m.met.processing.Observe(b.ProcessingTime.Seconds())
	m.met.delay.Observe(b.SchedulingDelay.Seconds())
	m.met.lastDone.Set(float64(rec.End.UnixNano()) / 1e9)
	m.met.owned.Set(float64(len(b.Ranges)))
	m.met.rateLimit.Set(float64(b.Rate))
	m.batchRead(rec, b.Time.Add(b.SchedulingDelay))
}

// batchRead records where the completed batch rec, planned at planned,
// left each partition it planned, and that those it did not plan are no
// longer this stream's to read.
func (m *Monitor) batchRead(rec Batch, planned time.Time) {
	ns := m.opts.Namespace
	read := map[partKey]bool{}
	for _, r := range rec.Ranges {
		k := partKey{r.Hub, r.Partition}
		read[k] = true
		p := m.part(k)
		p.Reading, p.known = true, true
		if m.view == nil {
			p.Live = true
			if m.opts.Owner != "" {
				p.Owner = m.opts.Owner
			}
		}
		// A view of the whole job read since has the later word.
		if !rec.End.Before(p.nextAt) {
			p.Next, p.nextAt = r.Until, rec.End
		}
		if (!rec.Replay || p.End < r.Until) && !planned.Before(p.endAt) {
			// A replayed batch was not planned now: its lag is unknown.
			p.End, p.endAt = r.Until+r.Lag, planned
		}
		p.Lag = p.End - p.Next
		if r.Events > 0 {
			p.LastBatch = rec.Number
		}
		p.Events += r.Events
		p.Skipped += r.Skipped
		m.met.events.WithLabelValues(ns, r.Hub, r.Partition).Add(float64(r.Events))
		m.met.skipped.WithLabelValues(ns, r.Hub, r.Partition).Add(float64(r.Skipped))
	}
	// A partition no longer planned is another replica's now (or gone
	// from the hub). Without a watch of the whole job its gauges would go
	// stale, so they go (partitionsCollector).
	for k, p := range m.parts {
		if !read[k] && p.Reading {
			p.Reading = false
			if m.view == nil {
				p.Owner, p.Live = "", false
			}
		}
	}
}

// part is the record of partition k, made on first use.
func (m *Monitor) part(k partKey) *partState {
	p := m.parts[k]
	if p == nil {
		p = &partState{Partition: Partition{Hub: k.hub, Partition: k.partition}}
		m.parts[k] = p
	}
	return p
}

// OnBatchFailed records a failed run of a batch
// (streaming.BatchFailedListener).
func (m *Monitor) OnBatchFailed(f streaming.BatchFailure) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.lastFailure; l != nil && l.Number == f.Number && l.Attempt == f.Attempt && l.Time.Equal(f.Time) {
		return
	}
	rec := m.failure(Failed, f)
	m.lastFailure = &rec
}

// OnBatchAbandoned records a batch an input abandoned to plan it again
// (streaming.BatchAbandonedListener).
func (m *Monitor) OnBatchAbandoned(f streaming.BatchFailure) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.problems.all() {
		if p.Outcome == Abandoned && p.Number == f.Number && p.Time.Equal(f.Time) {
			return
		}
	}
	m.failure(Abandoned, f)
}

func (m *Monitor) failure(outcome string, f streaming.BatchFailure) Batch {
	rec := m.record(outcome, f.Number, f.Time, f.Replay, f.Ranges, f.Lag, nil, f.SchedulingDelay, f.ProcessingTime)
	rec.Attempt, rec.Retrying = f.Attempt, f.Retrying
	if f.Err != nil {
		rec.Error = f.Err.Error()
	}
	m.problems.add(rec)
	m.counts[outcome]++
	m.met.batches.WithLabelValues(outcome).Inc()
	return rec
}

func (m *Monitor) record(outcome string, number int64, due time.Time, replay bool, rs []streaming.Range, lag, skipped []int64, delay, took time.Duration) Batch {
	ranges := rangesOf(rs, lag, skipped)
	var total int64
	for _, r := range ranges {
		total += r.Lag
	}
	return Batch{Number: number, Outcome: outcome, Time: due, End: m.now(), Replay: replay, Lag: total,
		SchedulingDelaySeconds: delay.Seconds(), ProcessingTimeSeconds: took.Seconds(), Ranges: ranges}
}

// OwnershipChanged records a partition this replica gained or lost, with
// why: give it as eventhubs.OwnershipOptions.OnChange. The partition's row
// says so until the batches show it (a lost partition's gauges go at the
// next completed batch, which no longer plans it).
func (m *Monitor) OwnershipChanged(c balance.Change) {
	if c.PartitionID == "" {
		return // a failure to relinquish: logged by the stream
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := partKey{m.opts.Hub, c.PartitionID}
	if m.parts[k] == nil {
		for pk := range m.parts {
			if pk.partition == c.PartitionID {
				k = pk
			}
		}
	}
	p := m.part(k)
	switch {
	case c.Gained:
		p.Owner, p.Note = m.opts.Owner, "gained: "+c.Reason
	case m.view == nil || p.Owner == m.opts.Owner:
		// A watch's next view says who took it.
		p.Owner, p.Note = "", "lost: "+c.Reason
	default:
		p.Note = "lost: " + c.Reason
	}
}

// Batches returns the batches kept, completed ones and failed or
// abandoned runs, in the order they ended.
func (m *Monitor) Batches() []Batch {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append(m.completed.all(), m.problems.all()...)
	slices.SortStableFunc(out, func(a, b Batch) int { return a.End.Compare(b.End) })
	return out
}

// Partitions returns every partition the stream has read or heard of, by
// hub and partition (numerically where they are numbers): with a watch of
// the whole job (JobObserved), every partition of the hub.
func (m *Monitor) Partitions() []Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	ps := m.sorted()
	out := make([]Partition, len(ps))
	for i, p := range ps {
		out[i] = p.served(now)
	}
	return out
}

// sorted is the partitions' records by hub and partition.
func (m *Monitor) sorted() []*partState {
	out := slices.Collect(maps.Values(m.parts))
	slices.SortFunc(out, func(a, b *partState) int {
		if c := cmp.Compare(a.Hub, b.Hub); c != 0 {
			return c
		}
		return eventhubs.ComparePartitionIDs(a.Partition.Partition, b.Partition.Partition)
	})
	return out
}

// Status returns the stream's state and totals.
func (m *Monitor) Status() Status {
	state, runErr := m.ssc.RunState()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := Status{Job: m.opts.Job, Hub: m.opts.Hub, ConsumerGroup: m.opts.ConsumerGroup, Sink: m.opts.Sink, Owner: m.opts.Owner,
		State: state.String(), Started: m.started, UptimeSeconds: now.Sub(m.started).Seconds(),
		BatchIntervalSeconds: m.interval.Seconds(), Events: m.events, Skipped: m.skipped,
		Batches: map[string]int64{Completed: m.counts[Completed], Failed: m.counts[Failed], Abandoned: m.counts[Abandoned]}}
	if runErr != nil {
		s.Error = runErr.Error()
	}
	if err := m.readyLocked(state, now); err != nil {
		s.NotReady = err.Error()
	} else {
		s.Ready = true
	}
	if m.lastDone != nil {
		d := *m.lastDone
		s.LastCompleted, s.Lag = &d, d.Lag
	}
	if m.lastFailure != nil {
		f := *m.lastFailure
		s.LastFailure = &f
	}
	for _, p := range m.parts {
		if p.Reading {
			s.Partitions++
		}
	}
	s.ProcessingTime, s.SchedulingDelay = m.summaries()
	s.WholeJob = m.jobStatus(now)
	return s
}

// summaries sum up the processing times and scheduling delays of the
// completed batches kept.
func (m *Monitor) summaries() (processing, delay Summary) {
	done := m.completed.all()
	took, late := make([]float64, len(done)), make([]float64, len(done))
	for i, b := range done {
		took[i], late[i] = b.ProcessingTimeSeconds, b.SchedulingDelaySeconds
	}
	return summarize(took), summarize(late)
}
