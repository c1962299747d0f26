package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example's default run (a local Event Hubs and a producer) prints one
// "hub partition from until" line per partition per batch, contiguous.
func TestDirectStreamExample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"-batch-interval", "50ms", "-batches", "6", "-max-rate-per-partition", "150"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6*4 {
		t.Fatalf("%d lines, want 24 (6 batches of 4 partitions):\n%s", len(lines), out.String())
	}
	next := map[string]int64{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "telemetry" {
			t.Fatalf("line %q is not \"telemetry partition from until\"", l)
		}
		from, err1 := strconv.ParseInt(f[2], 10, 64)
		until, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || from != next[f[1]] || until < from || until-from > 150 {
			t.Errorf("line %q: want from %d, until within the rate 150", l, next[f[1]])
		}
		next[f[1]] = until
	}
}

func TestDirectStreamExampleBadFlags(t *testing.T) {
	err := run(context.Background(), []string{"-starting-position", "yesterday"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Fatalf("run with a bad position = %v, want an error naming it", err)
	}
}
