package monitor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// partitionsCollector serves the partitions' gauges from the monitor's
// records at each scrape, so that the age of the oldest unread event is
// the age now, and the series are the partitions the monitor knows: with
// a watch of the whole job, every partition of the hub, each a series of
// its own whichever replica reads it (a sum over a hub stays a sum over
// its partitions); without one, those this stream reads.
type partitionsCollector struct {
	m                                 *Monitor
	lag, next, end, lagSeconds, owned *prometheus.Desc
	unowned, renewals                 *prometheus.Desc
}

func newPartitionsCollector(m *Monitor) *partitionsCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &partitionsCollector{m: m,
		lag: desc("ehstream_partition_lag_events",
			"Events in the partition past the job's position: the hub's end minus the next sequence number to read.", partitionLabels...),
		next: desc("ehstream_partition_next_sequence_number",
			"The next sequence number the job reads of the partition (its committed position).", partitionLabels...),
		end: desc("ehstream_partition_end_sequence_number",
			"The partition's last sequence number + 1, when last read.", partitionLabels...),
		lagSeconds: desc("ehstream_partition_lag_seconds",
			"Age of the oldest event the job has not read (now minus its enqueued time); 0 when none is unread. Absent when unknown.", partitionLabels...),
		owned: desc("ehstream_partition_owned",
			"1 when a live replica owns the partition (renewed its claim within 1.5 update intervals), else 0; owner is the claim's owner ID, the last one when not live (\"\" when relinquished or never claimed).",
			append(partitionLabels, "owner")...),
		unowned: desc("ehstream_partitions_unowned",
			"Partitions of the hub without a live owner: their claim was not renewed within 1.5 update intervals, was relinquished, or was never made.", "namespace", "hub"),
		renewals: desc("ehstream_ownership_renewals_total",
			"This replica's ownership rounds, which renew its claims, by result: ok or error.", "result"),
	}
}

func (c *partitionsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lag, c.next, c.end, c.lagSeconds, c.owned, c.unowned, c.renewals} {
		ch <- d
	}
}

func (c *partitionsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now, ns, v := m.now(), m.opts.Namespace, m.view
	gauge := func(d *prometheus.Desc, value float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, value, labels...)
	}
	unowned := 0
	for _, p := range m.sorted() {
		labels := []string{ns, p.Hub, p.Partition.Partition}
		if v != nil && v.shared && p.ownerKnown {
			live := 0.0
			if p.Live {
				live = 1
			} else {
				unowned++
			}
			gauge(c.owned, live, append(labels, p.Owner)...)
		}
		if !p.known || v == nil && !p.Reading {
			continue // without a watch, another replica's partition would go stale
		}
		gauge(c.lag, float64(p.Lag), labels...)
		gauge(c.next, float64(p.Next), labels...)
		gauge(c.end, float64(p.End), labels...)
		if age, ok := p.lagSeconds(now); ok {
			gauge(c.lagSeconds, age, labels...)
		}
	}
	if v == nil {
		return
	}
	gauge(c.unowned, float64(unowned), ns, m.opts.Hub)
	if v.shared {
		ch <- prometheus.MustNewConstMetric(c.renewals, prometheus.CounterValue, float64(v.renewals), "ok")
		ch <- prometheus.MustNewConstMetric(c.renewals, prometheus.CounterValue, float64(v.failedRenewals), "error")
	}
}
