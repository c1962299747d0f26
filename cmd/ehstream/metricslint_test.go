package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/ehstream/ehstream/emulator"
)

// Prometheus's own linter finds no problem in the /metrics of `ehstream
// stream` (package monitor, served by streamhttp.go), with every family in
// it: a replica's, watching the whole job, that has read events.
func TestStreamMetricsLint(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "lint", PartitionCount: 2})
	cs := srv.ConnectionString("lint")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, 2, 100, 100); err != nil {
		t.Fatal(err)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "lint.db")
	cmd := startCLI(t, "stream", "--connection-string", cs, "--sink", spec, "--ownership", spec, "--owner-id", "r1",
		"--ownership-interval", "200ms", "--ownership-expiration", "2s", "--batch-interval", "100ms", "--http", "127.0.0.1:0")
	base := cmd.statusURL(t)
	want := []string{"ehstream_events_read_total", "ehstream_partition_lag_seconds", "ehstream_partition_owned",
		"ehstream_partitions_unowned", "ehstream_ownership_renewals_total", "ehstream_stream_info", "ehstream_batch_processing_duration_seconds"}
	var body string
	poll(t, 30*time.Second, "every family in /metrics", func() bool {
		_, body = httpGet(t, base+"metrics")
		for _, name := range want {
			if !strings.Contains(body, "\n"+name) {
				return false
			}
		}
		return true
	})
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
