package linelog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ehstream/ehstream/linelog"
)

// records decodes the JSON records logged to buf, their messages in order.
func records(t *testing.T, buf *bytes.Buffer) []string {
	t.Helper()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		if r.Level != "INFO" {
			t.Errorf("record %q: level %s, want INFO", line, r.Level)
		}
		msgs = append(msgs, r.Msg)
	}
	return msgs
}

// Each ended line is a record, pieces of a line wait for its end, CRLF
// and blank lines leave nothing behind.
func TestWriterLines(t *testing.T) {
	var buf bytes.Buffer
	w := linelog.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	for _, piece := range []string{"streaming orders\n", "status: http://", "localhost:4040/\r\n", "\n\nwrote 3 events\nhalf"} {
		if n, err := w.Write([]byte(piece)); n != len(piece) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", piece, n, err)
		}
	}
	got := records(t, &buf)
	want := []string{"streaming orders", "status: http://localhost:4040/", "wrote 3 events"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %q, want %q (the unended \"half\" not yet)", got, want)
	}
}

// Lines written whole from several goroutines are each one record.
func TestWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w := linelog.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				fmt.Fprintf(w, "goroutine %d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	got := records(t, &buf)
	if len(got) != 400 {
		t.Fatalf("%d records, want 400", len(got))
	}
	for _, m := range got {
		if !strings.HasPrefix(m, "goroutine ") || strings.Count(m, "line") != 1 {
			t.Errorf("record %q is not one whole line", m)
		}
	}
}
