package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// tiny is a configuration quick enough for a test.
func tiny() config {
	return config{events: 800, partitions: 4, size: 100, runs: 2, interval: 50 * time.Millisecond, rate: 10_000}
}

// A small run measures every reader: each read exactly what was preloaded
// (a reader that read too few or too many fails the run), and the report
// names each rate and the ratios.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := run(ctx, tiny())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range readers {
		for _, m := range []map[string][]float64{res.rate, res.cpu} {
			if len(m[name]) != 2 || m[name][0] <= 0 || m[name][1] <= 0 {
				t.Fatalf("%s: rates %v, CPU per event %v; want 2 positive of each", name, res.rate[name], res.cpu[name])
			}
		}
	}
	var out strings.Builder
	res.report(&out)
	for _, want := range []string{"\nbare ", "\nProcessor ", "\nstream ", "stream / Processor: ", "stream / bare: ", "cpuRatio "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report %q lacks %q", out.String(), want)
		}
	}
}

// -planning measures the idle batches asked for, then the batches that
// read the load, which it checks was read exactly once: spread unevenly
// (1,000 events over 16 partitions leave 8 one more). With read-ahead an
// idle batch makes no management call, and one that reads at most one.
func TestPlanning(t *testing.T) {
	for _, readAhead := range []int64{0, 1 << 20} {
		t.Run(fmt.Sprintf("read-ahead %d", readAhead), func(t *testing.T) {
			r := testPlanning(t, readAhead)
			if readAhead > 0 && (r.idle.callsPerBatch() != 0 || r.load.callsPerBatch() > 1) {
				t.Errorf("%.1f management calls per idle batch and %.1f per loaded one, want 0 and at most 1", r.idle.callsPerBatch(), r.load.callsPerBatch())
			}
		})
	}
}

func testPlanning(t *testing.T, readAhead int64) *planningRun {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := tiny()
	c.partitions = 16
	c.planning = planningConfig{on: true, idleBatches: 3, loadEvents: 1000}
	c.readAhead = readAhead
	var out strings.Builder
	r, err := runPlanning(ctx, c, &out)
	if err != nil {
		t.Fatal(err)
	}
	if r.idle.batches != 3 || r.idle.events != 0 || r.load.batches < 1 || r.load.events != 1000 {
		t.Fatalf("idle %d batches of %d events, load %d batches of %d events; want 3 of 0, then 1,000 events",
			r.idle.batches, r.idle.events, r.load.batches, r.load.events)
	}
	if r.share(7) != 63 || r.share(8) != 62 || r.next[7] != 63 || r.next[8] != 62 {
		t.Fatalf("partitions 7 and 8: shares %d and %d, read up to %d and %d; want 63 and 62", r.share(7), r.share(8), r.next[7], r.next[8])
	}
	for _, want := range []string{"\nidle ", "\nload ", "calls per batch", "each read exactly once"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report %q lacks %q", out.String(), want)
		}
	}
	return r
}

// Bad flags are refused with the flag, its value and what it takes.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		change func(*config)
		want   string
	}{
		{func(c *config) { c.partitions = 0 }, "-partitions 0"},
		{func(c *config) { c.events = 3 }, "-events 3: give at least one per partition"},
		{func(c *config) { c.interval = 0 }, "-batch-interval 0s"},
		{func(c *config) { c.readAhead = -1 }, "-read-ahead -1: give 0 (off)"},
		{func(c *config) { c.planning = planningConfig{on: true, idleBatches: 0, loadEvents: 5} }, "-idle-batches 0"},
	} {
		cfg := tiny()
		c.change(&cfg)
		if err := cfg.check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("check: %v, want an error with %q", err, c.want)
		}
	}
	if cfg := tiny(); cfg.check() != nil {
		t.Errorf("tiny: %v", cfg.check())
	}
}
