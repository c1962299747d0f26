package eventhubs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// A partition that delivers nothing although its events exist: a read
// retries on fresh links while the stall is shorter than OperationTimeout,
// and then delivers every event once, in order; a longer stall fails it
// with CodeTimeout, the last receive's failure in the chain.
func TestReadStalledPartition(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "stall", PartitionCount: 1})
	ctx := testCtx(t, 60*time.Second)
	const n = 20
	fill(t, ctx, srv, "stall", "0", 0, n)
	conf := testConf(srv, "stall").SetReceiverTimeout(200 * time.Millisecond).SetOperationTimeout(2 * time.Second)
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "stall", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: n}})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "stall", Partition: "0", Duration: 700 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatalf("a read through a stall shorter than OperationTimeout: %v", err)
	}
	if len(evs) != n {
		t.Fatalf("read %d events through the stall, want %d", len(evs), n)
	}
	for i, e := range evs {
		if e.SequenceNumber != int64(i) {
			t.Fatalf("event %d has seq %d (lost or repeated)", i, e.SequenceNumber)
		}
	}

	pause, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "stall", Partition: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.RemoveFault(pause.ID)
	began := time.Now()
	_, err = rdd.Collect(ctx)
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeTimeout {
		t.Fatalf("a read of a stalled partition: err = %v, want %s", err, eventhubs.CodeTimeout)
	}
	if !strings.Contains(e.Message, "no progress reading [0, 20)") || e.Err == nil || !strings.Contains(e.Err.Error(), "no events within ReceiverTimeout") {
		t.Fatalf("timeout %q caused by %v: want the range and the last receive's failure", e.Message, e.Err)
	}
	if took := time.Since(began); took < 2*time.Second {
		t.Fatalf("the read gave up after %s, within OperationTimeout", took)
	}
}
