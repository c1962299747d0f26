package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

func TestTimedBodies(t *testing.T) {
	body := timedBodies(100, 1000, 30*time.Minute)
	var bad atomic.Int64
	eventTime := bodyTime(&bad)
	for _, i := range []int{0, 1, 500, 999} {
		b := body(3, i)
		if len(b) != 100 {
			t.Errorf("body %d is %d bytes, want 100", i, len(b))
		}
		want := timeBase.Add(time.Duration(i) * 1800 * time.Millisecond)
		if got := eventTime(&eventhubs.Event{Body: b}); !got.Equal(want) {
			t.Errorf("event %d's time is %s, want %s", i, got, want)
		}
	}
	if bad.Load() != 0 {
		t.Errorf("%d bad bodies among timed ones", bad.Load())
	}
	if got := eventTime(&eventhubs.Event{Body: []byte("xxxx")}); !got.IsZero() || bad.Load() != 1 {
		t.Errorf("a body without a time gave %s and counted %d bad, want the zero time and 1", got, bad.Load())
	}
}

// buildStreambench builds this command into a temporary directory.
func buildStreambench(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streambench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestEventTimeRun reads a small backlog whose event times span 30
// minutes with the event-time window in append mode: every 1 minute window
// but the last closes, each with every key, and none is late.
func TestEventTimeRun(t *testing.T) {
	bin := buildStreambench(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-events", "8000", "-partitions", "2", "-max-rate-per-partition", "400",
		"-keys", "10", "-event-time").CombinedOutput()
	if err != nil {
		t.Fatalf("streambench: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`event-time \(append, body, 1m0s windows\): batches=\d+ emitted=(\d+) late=(\d+) stateWindows=(\d+) events=8000 .* ratio=[0-9.]+ cpuRatio=[0-9.]+ .*peakRSS=\d+kB`).FindStringSubmatch(string(out))
	if line == nil {
		t.Fatalf("no event-time line in the output:\n%s", out)
	}
	if emitted, late, state := line[1], line[2], line[3]; emitted != "290" || late != "0" || state != "10" {
		t.Errorf("emitted=%s late=%s stateWindows=%s, want 290 (29 windows closed, 10 keys each), 0 and 10 (the last window)\n%s", emitted, late, state, out)
	}
}

func TestBadFlags(t *testing.T) {
	bin := buildStreambench(t)
	for _, tc := range []struct{ flag, value, want string }{
		{"-event-mode", "sideways", `-event-mode "sideways": give append or update`},
		{"-event-source", "header", `-event-source "header": give body or enqueued`},
		{"-state-store", "redis", `-state-store "redis": give dir`},
		{"-event-window", "0s", `-event-window 0s: give a positive length`},
	} {
		out, err := exec.Command(bin, tc.flag, tc.value).CombinedOutput()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s %s: %v, output %q; want exit status 1 and %q", tc.flag, tc.value, err, out, tc.want)
		}
	}
}
