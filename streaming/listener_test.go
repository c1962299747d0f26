package streaming

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The default batch log, under a JSON handler, is one object per batch
// with each key once: the batch's due time is not slog's own "time".
func TestBatchLogKeysOnce(t *testing.T) {
	var buf bytes.Buffer
	l := NewBatchLog(slog.New(slog.NewJSONHandler(&buf, nil)), nil)
	due := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l.OnBatchCompleted(BatchInfo{Number: 7, Time: due, Events: 3, Rate: 100, Ranges: []Range{{Source: "h", Partition: "0", From: 0, Until: 3}}})
	line := strings.TrimSpace(buf.String())
	dec := json.NewDecoder(strings.NewReader(line))
	dec.Token() // {
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if seen[k.(string)] {
			t.Errorf("key %q twice in %s", k, line)
		}
		seen[k.(string)] = true
		var v json.RawMessage
		dec.Decode(&v)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["batchTime"] != "2026-01-02T03:04:05Z" || rec["batch"] != float64(7) {
		t.Errorf("record %v (%v): want batch 7 with batchTime 2026-01-02T03:04:05Z", rec, err)
	}
}

// The default batch log of an idle stream is one line, when it stops,
// counting every empty batch (LogBatch's line of a batch that reads
// events is TestBatchLogKeysOnce's, and eventhubs' TestIdleStreamLogsQuietly
// runs both on a hub).
func TestDefaultBatchLogCondensesEmptyBatches(t *testing.T) {
	var buf bytes.Buffer // written by Run's goroutine, read after it returned
	c, err := NewContext(time.Millisecond, &ContextOptions{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	in := newFake()
	in.rate = 0 // every batch reads nothing
	if err := c.AddInput(in); err != nil {
		t.Fatal(err)
	}
	var batches atomic.Int64
	c.AddListener(ListenerFunc(func(BatchInfo) {
		if batches.Add(1) == 100 {
			c.Stop(true)
		}
	}))
	if err := <-run(t, c); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%v emptyBatches=%v lag=%v", rec["msg"], rec["emptyBatches"], rec["lag"]))
	}
	if want := "streaming: idle emptyBatches=100 lag=14"; len(got) != 1 || got[0] != want {
		t.Errorf("the log of 100 empty batches: %q; want one line, %q", got, want)
	}
}
