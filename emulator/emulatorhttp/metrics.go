package emulatorhttp

import (
	"github.com/ehstream/ehstream/buildinfo"
	"github.com/ehstream/ehstream/emulator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names, all under ehstream_emulator_.
const (
	MetricConnections         = "ehstream_emulator_connections"
	MetricConnectionsAccepted = "ehstream_emulator_connections_accepted_total"
	MetricLinks               = "ehstream_emulator_links"
	MetricEventsIn            = "ehstream_emulator_events_in_total"
	MetricEventsInBytes       = "ehstream_emulator_events_in_bytes_total"
	MetricEventsOut           = "ehstream_emulator_events_out_total"
	MetricEventsOutBytes      = "ehstream_emulator_events_out_bytes_total"
	MetricPartitionBytes      = "ehstream_emulator_partition_bytes"
	MetricPartitionFirstSeq   = "ehstream_emulator_partition_first_sequence_number"
	MetricPartitionLastSeq    = "ehstream_emulator_partition_last_sequence_number"
	MetricFsyncSeconds        = "ehstream_emulator_fsync_duration_seconds"
	MetricFaultsInjected      = "ehstream_emulator_faults_injected_total"
	MetricFaultHits           = "ehstream_emulator_fault_hits_total"

	// The Kafka endpoint's, there when it is served.
	MetricKafkaConnections         = "ehstream_emulator_kafka_connections"
	MetricKafkaConnectionsAccepted = "ehstream_emulator_kafka_connections_accepted_total"
	MetricKafkaRequests            = "ehstream_emulator_kafka_requests_total"
	MetricKafkaReceivedBytes       = "ehstream_emulator_kafka_received_bytes_total"
	MetricKafkaSentBytes           = "ehstream_emulator_kafka_sent_bytes_total"
	MetricManagementRequests       = "ehstream_emulator_management_requests_total"
)

var (
	partitionLabels = []string{"hub", "partition"}

	descConnections = prometheus.NewDesc(MetricConnections,
		"AMQP connections open now (TCP, TLS and WebSocket).", nil, nil)
	descConnectionsAccepted = prometheus.NewDesc(MetricConnectionsAccepted,
		"AMQP connections accepted since the emulator started.", nil, nil)
	descLinks = prometheus.NewDesc(MetricLinks,
		"AMQP links attached now, by kind: sender (the client sends events), receiver (the client receives events), management and cbs (requests to $management and $cbs, and their replies).",
		[]string{"kind"}, nil)
	descEventsIn = prometheus.NewDesc(MetricEventsIn,
		"Events stored in the partition from producers.", partitionLabels, nil)
	descEventsInBytes = prometheus.NewDesc(MetricEventsInBytes,
		"Bytes of the bodies of the events stored in the partition.", partitionLabels, nil)
	descEventsOut = prometheus.NewDesc(MetricEventsOut,
		"Events of the partition delivered to consumers, over every consumer group and reader.", partitionLabels, nil)
	descEventsOutBytes = prometheus.NewDesc(MetricEventsOutBytes,
		"Bytes of the bodies of the events of the partition delivered to consumers.", partitionLabels, nil)
	descPartitionBytes = prometheus.NewDesc(MetricPartitionBytes,
		"Size of the partition's log: its segment files on disk, or the events held in memory.", partitionLabels, nil)
	descFirstSeq = prometheus.NewDesc(MetricPartitionFirstSeq,
		"The partition's first available sequence number (retention moves it).", partitionLabels, nil)
	descLastSeq = prometheus.NewDesc(MetricPartitionLastSeq,
		"The partition's last enqueued sequence number (the first available minus 1 when it is empty).", partitionLabels, nil)
	descFsync = prometheus.NewDesc(MetricFsyncSeconds,
		"How long the fsyncs of partition log files took: the group commits of appends and the syncs of new segment files. None in memory.", nil, nil)
	descFaultsInjected = prometheus.NewDesc(MetricFaultsInjected,
		"Faults injected, by kind.", []string{"kind"}, nil)
	descFaultHits = prometheus.NewDesc(MetricFaultHits,
		"Times faults acted, by kind: sends refused or Kafka produces held (server-busy), links detached (detach-receivers), connections reset (drop-connections), writes delayed (delay-frames), receivers held back (pause-partition).",
		[]string{"kind"}, nil)

	descKafkaConnections = prometheus.NewDesc(MetricKafkaConnections,
		"Kafka connections open now.", nil, nil)
	descKafkaConnectionsAccepted = prometheus.NewDesc(MetricKafkaConnectionsAccepted,
		"Kafka connections accepted since the emulator started.", nil, nil)
	descKafkaRequests = prometheus.NewDesc(MetricKafkaRequests,
		"Kafka requests received, by API key name (Produce, Fetch, ...; unknown for keys the protocol does not have).", []string{"api"}, nil)
	descKafkaReceivedBytes = prometheus.NewDesc(MetricKafkaReceivedBytes,
		"Bytes of Kafka request frames received.", nil, nil)
	descKafkaSentBytes = prometheus.NewDesc(MetricKafkaSentBytes,
		"Bytes of Kafka response frames sent.", nil, nil)
	descManagementRequests = prometheus.NewDesc(MetricManagementRequests,
		"Requests to $management, answered or refused, by operation: hub (a hub's properties), partition (a partition's properties), other.",
		[]string{"operation"}, nil)
)

// collector reads the emulator's Stats and Snapshot when scraped.
type collector struct{ srv *emulator.Server }

// NewCollector returns a Prometheus collector of the emulator's metrics
// (the Metric constants), read from Server.Stats and Server.Snapshot when
// scraped: the emulator itself keeps counters, not metrics.
func NewCollector(srv *emulator.Server) prometheus.Collector { return collector{srv} }

// NewRegistry returns a registry of its own with NewCollector(srv),
// ehstream_build_info (package buildinfo) and the Go runtime and process
// collectors, as /metrics serves it.
func NewRegistry(srv *emulator.Server) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(srv),
		buildinfo.NewCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descConnectionsAccepted, descLinks,
		descEventsIn, descEventsInBytes, descEventsOut, descEventsOutBytes,
		descPartitionBytes, descFirstSeq, descLastSeq, descFsync, descFaultsInjected, descFaultHits,
		descKafkaConnections, descKafkaConnectionsAccepted, descKafkaRequests, descKafkaReceivedBytes, descKafkaSentBytes, descManagementRequests} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st, snap := c.srv.Stats(), c.srv.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descConnections, float64(st.OpenConnections))
	counter(descConnectionsAccepted, float64(st.Connections))
	for _, k := range emulator.LinkKinds {
		gauge(descLinks, float64(st.OpenLinks[k]), string(k))
	}
	for _, h := range snap.Hubs {
		for _, p := range h.Partitions {
			counter(descEventsIn, float64(p.EventsIn), h.Name, p.ID)
			counter(descEventsInBytes, float64(p.BytesIn), h.Name, p.ID)
			counter(descEventsOut, float64(p.EventsOut), h.Name, p.ID)
			counter(descEventsOutBytes, float64(p.BytesOut), h.Name, p.ID)
			gauge(descPartitionBytes, float64(p.Bytes), h.Name, p.ID)
			gauge(descFirstSeq, float64(p.FirstSequenceNumber), h.Name, p.ID)
			gauge(descLastSeq, float64(p.LastSequenceNumber), h.Name, p.ID)
		}
	}
	buckets := make(map[float64]uint64, len(st.Fsync.Buckets))
	for _, b := range st.Fsync.Buckets {
		buckets[b.UpperBound.Seconds()] = b.Count
	}
	ch <- prometheus.MustNewConstHistogram(descFsync, st.Fsync.Count, st.Fsync.Sum.Seconds(), buckets)
	for _, k := range emulator.FaultKinds {
		counter(descFaultsInjected, float64(st.Faults.Injected[k]), string(k))
		counter(descFaultHits, float64(st.Faults.Hits[k]), string(k))
	}
	if c.srv.KafkaAddr() != "" || c.srv.KafkaTLSAddr() != "" {
		k := st.Kafka
		gauge(descKafkaConnections, float64(k.OpenConnections))
		counter(descKafkaConnectionsAccepted, float64(k.Connections))
		for api, n := range k.Requests {
			counter(descKafkaRequests, float64(n), api)
		}
		counter(descKafkaReceivedBytes, float64(k.BytesReceived))
		counter(descKafkaSentBytes, float64(k.BytesSent))
	}
	for _, op := range emulator.ManagementOps {
		counter(descManagementRequests, float64(st.ManagementRequests[op]), string(op))
	}
}
