package eventhubs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// A checkpointed stream takes its partitions (exclusively) before it reads
// its checkpoint, and then resolves its starting positions: an offset or an
// enqueued time needs a read of the partition, which its own receivers
// hold. The lookups must not fail with ownership lost on them.
func TestDirectStreamOwnReceiversDoNotBlockPositionLookups(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "own", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	conf := testConf(srv, "own")
	hp, after := fillBeforeAndAfter(t, ctx, srv, conf, 2)
	positions := map[string]eventhubs.EventPosition{
		"0": eventhubs.FromEnqueuedTime(after),
		"1": eventhubs.FromOffset(hp.Partitions[1].LastOffset, false),
	}
	ssc, log, done := checkpointedStream(t, ctx, conf.Clone().SetStartingPositions(positions), t.TempDir(), nil)
	waitWhileRunning(t, 20*time.Second, "both partitions read to their ends", done, func() bool {
		return len(log.seqsOf("0")) >= 5 && len(log.seqsOf("1")) >= 5
	})
	ssc.Stop(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		if got := log.seqsOf(fmt.Sprint(p)); len(got) != 5 || got[0] != 5 {
			t.Errorf("partition %d read %v, want 5..9", p, got)
		}
	}
}
