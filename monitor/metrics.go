package monitor

import (
	"github.com/ehstream/ehstream/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the Prometheus collectors a Monitor feeds, in a registry of
// its own: two streams in one process each have theirs.
type metrics struct {
	batches    *prometheus.CounterVec
	events     *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	processing prometheus.Histogram
	delay      prometheus.Histogram
	owned      prometheus.Gauge
	lastDone   prometheus.Gauge
	interval   prometheus.Gauge
	rateLimit  prometheus.Gauge
	info       *prometheus.GaugeVec
}

// durationBuckets span a batch of milliseconds to one of minutes.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

var partitionLabels = []string{"namespace", "hub", "partition"}

func newMetrics(reg *prometheus.Registry, m *Monitor) *metrics {
	met := &metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ehstream_batches_total",
			Help: "Batches by outcome: completed; failed (each failed run of a batch's output, its plan or its checkpoint); abandoned (planned again)."}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ehstream_events_read_total",
			Help: "Events handed to the outputs by this process's completed batches."}, partitionLabels),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ehstream_events_skipped_total",
			Help: "Events found lost (removed by retention before they were read) and skipped, with FailOnDataLoss off."}, partitionLabels),
		processing: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ehstream_batch_processing_duration_seconds",
			Help: "Time from the start of a completed batch to its end.", Buckets: durationBuckets}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ehstream_batch_scheduling_delay_seconds",
			Help: "Time from when a completed batch was due to its start (the batches before it ran late).", Buckets: durationBuckets}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ehstream_owned_partitions",
			Help: "Partitions the stream reads: all of the hub's, or the share this replica owns."}),
		lastDone: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ehstream_last_completed_batch_timestamp_seconds",
			Help: "When the last batch completed, in Unix seconds."}),
		interval: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ehstream_batch_interval_seconds",
			Help: "The time between batches."}),
		rateLimit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ehstream_rate_limit_events_per_second",
			Help: "The rate backpressure allowed the last completed batch, in events per second; 0 when nothing limited it."}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ehstream_stream_info",
			Help: "The stream's names, as labels; always 1."}, []string{"job", "namespace", "hub", "consumer_group", "sink", "owner"}),
	}
	reg.MustRegister(met.batches, met.events, met.skipped, met.processing, met.delay, met.owned, met.lastDone, met.interval, met.rateLimit, met.info,
		newPartitionsCollector(m), buildinfo.NewCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if f := m.opts.ReadAheadBytes; f != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ehstream_read_ahead_bytes",
			Help: "Bytes of events the stream's read-aheads hold now: received between batches, not yet taken by one (counted as they take memory)."},
			func() float64 { return float64(f()) }))
	}
	// Every outcome from the start, so that rate() and alerts see a 0.
	for _, o := range []string{Completed, Failed, Abandoned} {
		met.batches.WithLabelValues(o)
	}
	return met
}
