package eventhubs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// A hub deleted and created again while a stream runs, and refilled past
// the stream's position before its next batch: its creation time tells it
// from the hub it replaced. With FailOnDataLoss the stream stops saying
// so; without, it reads the new hub from its first event, its first range
// resetting the position, and misses none of the new hub's events.
func TestDirectStreamHubCreatedAgainWhileRunning(t *testing.T) {
	for _, fail := range []bool{true, false} {
		t.Run(map[bool]string{true: "fail on data loss", false: "go on"}[fail], func(t *testing.T) {
			h := startRestartable(t, "again", 1)
			ctx := testCtx(t, 90*time.Second)
			fill(t, ctx, h.srv, "again", "0", 0, 30)
			conf := testConf(h.srv, "again").SetFailOnDataLoss(fail)
			g := newGate()
			ssc, log, done := checkpointedStream(t, ctx, conf, t.TempDir(), g)
			waitFor(t, 10*time.Second, "the old hub's 30 events", func() bool { return len(log.seqsOf("0")) >= 30 })
			g.close()
			select {
			case <-g.waiting:
			case <-ctx.Done():
				t.Fatal("the stream's output never reached the gate")
			}
			if err := h.srv.Close(); err != nil {
				t.Fatal(err)
			}
			h.dir = t.TempDir() // the hub is deleted and created again
			h.start(1)
			fill(t, ctx, h.srv, "again", "0", 0, 100)
			close(g.open)
			if fail {
				err := waitRun(t, done)
				if !eventhubs.HasCode(err, eventhubs.CodeDataLoss) || !strings.Contains(err.Error(), "created again") {
					t.Fatalf("the stream ended with %v, want a data-loss error saying the hub was created again", err)
				}
				return
			}
			waitFor(t, 30*time.Second, "the new hub's 100 events", func() bool { return len(log.seqsOf("0")) >= 130 })
			ssc.Stop(true)
			if err := waitRun(t, done); err != nil {
				t.Fatal(err)
			}
			seqs := log.seqsOf("0")
			if len(seqs) != 130 || seqs[30] != 0 || seqs[129] != 99 {
				t.Errorf("read %d events (the 31st %d, the last %d), want the old hub's 30 and the new one's 0 to 99", len(seqs), seqs[min(30, len(seqs)-1)], seqs[len(seqs)-1])
			}
			var reset eventhubs.OffsetRange
			for _, r := range log.ranges["0"] {
				if r.ResetFrom != 0 {
					reset = r
				}
			}
			if reset.ResetFrom != 30 || reset.FromSeqNo != 0 || reset.HubCreatedOn.IsZero() {
				t.Errorf("the range that moved to the new hub: %+v, want one from 0 resetting from 30, with the new hub's creation time", reset)
			}
		})
	}
}

// A checkpointed stream whose hub is deleted and created again while it is
// down, and refilled past the checkpoint's positions: the checkpoint
// records the hub's creation time, so that the restarted stream does not
// go on from the old positions on the new hub, skipping its first events.
func TestDirectStreamCheckpointOfAHubCreatedAgain(t *testing.T) {
	for _, fail := range []bool{true, false} {
		t.Run(map[bool]string{true: "fail on data loss", false: "go on"}[fail], func(t *testing.T) {
			h := startRestartable(t, "again", 1)
			ctx := testCtx(t, 90*time.Second)
			fill(t, ctx, h.srv, "again", "0", 0, 30)
			dir := t.TempDir()
			conf := testConf(h.srv, "again").SetFailOnDataLoss(fail)
			ssc, log, done := checkpointedStream(t, ctx, conf, dir, nil)
			waitFor(t, 10*time.Second, "the old hub's 30 events", func() bool { return len(log.seqsOf("0")) >= 30 })
			ssc.Stop(true)
			if err := waitRun(t, done); err != nil {
				t.Fatal(err)
			}
			if err := h.srv.Close(); err != nil {
				t.Fatal(err)
			}
			h.dir = t.TempDir() // the hub is deleted and created again
			h.start(1)
			fill(t, ctx, h.srv, "again", "0", 0, 100)
			ssc, log, done = checkpointedStream(t, ctx, conf, dir, nil)
			if fail {
				err := waitRun(t, done)
				if !eventhubs.HasCode(err, eventhubs.CodeDataLoss) || !strings.Contains(err.Error(), "created again") {
					t.Fatalf("the restarted stream ended with %v, want a data-loss error saying the hub was created again", err)
				}
				return
			}
			waitFor(t, 30*time.Second, "the new hub's 100 events", func() bool { return len(log.seqsOf("0")) >= 100 })
			ssc.Stop(true)
			if err := waitRun(t, done); err != nil {
				t.Fatal(err)
			}
			log.checkExactlyOnce(t, "0", 100)
		})
	}
}
