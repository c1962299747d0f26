package streaming

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The default batch log, under a JSON handler, is one object per batch
// with each key once: the batch's due time is not slog's own "time".
func TestBatchLogKeysOnce(t *testing.T) {
	var buf bytes.Buffer
	l := logListener{log: slog.New(slog.NewJSONHandler(&buf, nil))}
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
