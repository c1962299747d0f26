package eventhubs_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// logLines is the lines written to a log's buffer so far.
func logLines(b *syncBuffer) []string {
	s := b.String()
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// A library stream with the default batch log, idle for 10 s at 100 ms
// batches, writes at most one line (the log of empty batches is condensed
// to one line every 30 s); a batch that reads events still gets its line.
func TestIdleStreamLogsQuietly(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "quiet", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ssc, err := streaming.NewContext(100*time.Millisecond, &streaming.ContextOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var batches, events int64
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		mu.Lock()
		defer mu.Unlock()
		batches++
		events += b.Events
	}))
	ds, err := eventhubs.CreateDirectStream(ssc, testConf(srv, "quiet").SetLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return nil })
	done := make(chan error, 1)
	go func() { done <- ssc.Run(ctx) }()
	begin := time.Now()
	for time.Since(begin) < 10*time.Second {
		select {
		case err := <-done:
			t.Fatalf("the stream stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	idle := logLines(&logs)
	mu.Lock()
	ran := batches
	mu.Unlock()
	if ran < 50 {
		t.Fatalf("%d batches ran in 10 s at 100 ms: the test measured too little", ran)
	}
	if len(idle) > 1 {
		t.Errorf("%d batches idle for 10 s wrote %d log lines, want at most 1:\n%s", ran, len(idle), strings.Join(idle, "\n"))
	}

	fill(t, ctx, srv, "quiet", "0", 0, 3)
	waitWhileRunning(t, 20*time.Second, "a log line of the batch that read 3 events", done, func() bool {
		for _, l := range logLines(&logs)[len(idle):] {
			if strings.Contains(l, `msg="streaming: batch done"`) && strings.Contains(l, "events=3") {
				return true
			}
		}
		return false
	})
	ssc.Stop(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d batches; the log:\n%s", ran, strings.Join(logLines(&logs), "\n"))
}
