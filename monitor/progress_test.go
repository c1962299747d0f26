package monitor_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/streaming"
)

// Progress, fed batches: lines for batches with events, or lost
// events, or replayed; empty ones counted into an idle line every 30 s,
// the count starting again after each line; the rest said at the stop.
func TestProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var n int64
	at := t0
	batch := func(events, skipped int64, replay bool, lag int64) streaming.BatchInfo {
		n++
		at = at.Add(100 * time.Millisecond)
		return streaming.BatchInfo{Number: n, Time: at, Events: events, Skipped: skipped, Replay: replay,
			Ranges: make([]streaming.Range, 2), Lag: []int64{lag, 0}, ProcessingTime: 5 * time.Millisecond}
	}
	var out bytes.Buffer
	r := monitor.NewProgress(&out, &monitor.ProgressOptions{Start: t0})
	for range 700 { // 70 s idle: lines at 30 s and 60 s
		r.OnBatchCompleted(batch(0, 0, false, 0))
	}
	r.OnBatchCompleted(batch(7, 0, false, 3))
	for range 20 { // 2 s idle: no line, and the next line is a batch's
		r.OnBatchCompleted(batch(0, 0, false, 0))
	}
	r.OnBatchCompleted(batch(0, 4, false, 0)) // lost to retention: a line
	r.OnBatchCompleted(batch(0, 0, true, 0))  // replayed: a line
	r.OnBatchCompleted(batch(0, 0, false, 2)) // lag, yet nothing read (a partition not owned, say)
	r.Flush(at.Add(time.Second))
	r.Flush(at.Add(2 * time.Second)) // nothing since the last line: nothing
	want := []string{
		"idle: 300 empty batches, lag 0",
		"idle: 300 empty batches, lag 0",
		"batch 701: 7 events, lag 3, at 03:05:15.100, took 5ms",
		"batch 722: 0 events, lag 0, at 03:05:17.200, took 5ms, 4 LOST to retention and skipped",
		"batch 723: 0 events, lag 0, at 03:05:17.300, took 5ms (replayed after a restart)",
		"idle: 1 empty batch, lag 2",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the reporter printed:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}

	// The same as records: one JSON object a line.
	var logs bytes.Buffer
	n, at = 0, t0
	r = monitor.NewProgress(nil, &monitor.ProgressOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Start: t0})
	for range 400 {
		r.OnBatchCompleted(batch(0, 0, false, 0))
	}
	r.OnBatchCompleted(batch(7, 0, false, 3))
	r.OnBatchCompleted(batch(0, 0, false, 0))
	r.Flush(at)
	var msgs []string
	for _, rec := range records(t, logs.String()) {
		switch rec["msg"] {
		case "streaming: idle":
			msgs = append(msgs, fmt.Sprintf("idle %v lag %v", rec["emptyBatches"], rec["lag"]))
		case "streaming: batch done":
			msgs = append(msgs, fmt.Sprintf("batch %v events %v lag %v at %v", rec["batch"], rec["events"], rec["lag"], rec["batchTime"]))
		default:
			t.Errorf("record %v", rec)
		}
	}
	if got, want := strings.Join(msgs, "; "), "idle 300 lag 0; batch 401 events 7 lag 3 at 2026-01-02T03:04:45.1Z; idle 1 lag 0"; got != want {
		t.Errorf("records: %s\nwant %s", got, want)
	}
}

// records parses each line of s as a JSON object.
func records(t *testing.T, s string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a line that is not a JSON object: %q: %v", l, err)
		}
		recs = append(recs, m)
	}
	return recs
}
