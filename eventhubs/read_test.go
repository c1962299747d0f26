package eventhubs_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// The service restarts in the middle of a read: the read carries on from
// where it was and delivers every event once, in order.
func TestReadSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	hubs := []emulator.HubConfig{{Name: "hub", PartitionCount: 1}}
	ctx := testCtx(t, 90*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Listen: "127.0.0.1:0", DataDir: dir, Hubs: hubs})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()) })
	const n = 5000
	fill(t, ctx, srv, "hub", "0", 0, n)
	conf := testConf(srv, "hub").SetPrefetch(50).SetOperationTimeout(30 * time.Second)
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: n}})
	if err != nil {
		t.Fatal(err)
	}

	reached := make(chan struct{})
	resume := make(chan struct{})
	done := make(chan error, 1)
	var seqs []int64
	go func() {
		done <- rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
			for ev, err := range p.Events() {
				if err != nil {
					return err
				}
				seqs = append(seqs, ev.SequenceNumber)
				if len(seqs) == 100 {
					close(reached)
					<-resume
				}
			}
			return nil
		})
	}()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("read ended before the restart: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2 := restartOn(t, ctx, addr, dir, hubs)
	close(resume)
	if err := <-done; err != nil {
		t.Fatalf("read across a restart: %v", err)
	}
	if len(seqs) != n {
		t.Fatalf("read %d events, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(i) {
			t.Fatalf("event %d has seq %d", i, s)
		}
	}
	if srv2.Stats().ConsumerLinks == 0 {
		t.Errorf("the restarted server saw no receiver: the read did not go back to it")
	}
}

// restartOn starts an emulator on addr again, waiting for the port to be
// free.
func restartOn(t *testing.T, ctx context.Context, addr, dir string, hubs []emulator.HubConfig) *emulator.Server {
	t.Helper()
	var srv *emulator.Server
	waitFor(t, 10*time.Second, "the port to be free again", func() bool {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
		srv, err = emulator.Start(ctx, &emulator.Config{Listen: addr, DataDir: dir, Hubs: hubs})
		return err == nil
	})
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	return srv
}

// Another exclusive reader takes the partition while the pooled exclusive
// receiver is idle: the next read fails with CodeOwnershipLost and does not
// take the partition back.
func TestReadOwnershipLost(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "hub", PartitionCount: 1})
	ctx := testCtx(t, 30*time.Second)
	fill(t, ctx, srv, "hub", "0", 0, 10)
	conf := testConf(srv, "hub").SetExclusive(true)
	read := func(from, until int64) error {
		rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "hub", PartitionID: "0", FromSeqNo: from, UntilSeqNo: until}})
		if err != nil {
			return err
		}
		_, err = rdd.Collect(ctx)
		return err
	}
	if err := read(0, 10); err != nil {
		t.Fatal(err)
	}

	cc, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString("hub"), "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(ctx)
	level, earliest := int64(0), true
	other, err := cc.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{OwnerLevel: &level,
		StartPosition: azeventhubs.StartPosition{Earliest: &earliest}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	// Its first receive attaches, taking the partition; only then do new
	// events arrive, so the pooled receiver has none of them buffered.
	if evs, err := other.ReceiveEvents(ctx, 10, nil); err != nil || len(evs) != 10 {
		t.Fatalf("the other reader got %d events, %v", len(evs), err)
	}
	fill(t, ctx, srv, "hub", "0", 10, 10)

	err = read(10, 20)
	if errCode(err) != eventhubs.CodeOwnershipLost {
		t.Fatalf("read after the partition was taken: err = %v, want %s", err, eventhubs.CodeOwnershipLost)
	}
	// The other reader still owns the partition.
	fill(t, ctx, srv, "hub", "0", 20, 1)
	if evs, err := other.ReceiveEvents(ctx, 11, nil); err != nil || len(evs) != 11 {
		t.Fatalf("the other reader lost the partition: %d events, %v", len(evs), err)
	}
}
