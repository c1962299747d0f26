package buildinfo

import "github.com/prometheus/client_golang/prometheus"

// MetricName is the gauge NewCollector serves.
const MetricName = "ehstream_build_info"

// NewCollector returns the gauge ehstream_build_info, always 1, with the
// labels version, revision (RevisionLabel) and goversion of Read(): a
// query joins it to see which build a series comes from. Each registry
// takes a collector of its own.
//
// Not client_golang's collectors/version: that one reads variables a
// program sets with -ldflags, which a go build or go install never sets,
// and setting them here would change the labels of a program that uses
// them for itself.
func NewCollector() prometheus.Collector {
	return newCollector(Read())
}

func newCollector(i Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricName,
		Help: "Which ehstream this is, as labels: the module version, the VCS revision it was built from (-modified: with changes not committed) and the Go version; always 1.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"revision":  i.RevisionLabel(),
			"goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
