package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// readersOf returns the readers Snapshot lists for a group of eh1.
func readersOf(t *testing.T, srv *emulator.Server, group string) []emulator.ReaderSnapshot {
	t.Helper()
	for _, g := range srv.Snapshot().Hubs[0].ConsumerGroups {
		if g.Name == group {
			return g.Readers
		}
	}
	t.Fatalf("Snapshot has no consumer group %s", group)
	return nil
}

// TestSnapshotReaders: Snapshot lists the readers attached now, with their
// owner levels; a reader that lost the partition to a higher owner level
// is gone from it at once, and one that closed once it detached.
func TestSnapshotReaders(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("abc")}, &azeventhubs.EventData{Body: []byte("de")})

	c := consumer(t, srv, "eh1", "cg1")
	open := func(level *int64) *azeventhubs.PartitionClient {
		pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{
			StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}, OwnerLevel: level})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close(context.Background()) })
		return pc
	}
	plain := open(nil)
	receive(t, ctx, plain, 2)
	if r := readersOf(t, srv, "cg1"); len(r) != 1 || r[0].OwnerLevel != nil || r[0].Partition != "0" || r[0].Delivered != 2 || r[0].NextSequenceNumber != 2 {
		t.Fatalf("one reader without an owner level: %+v", r)
	}
	owner := open(to.Ptr(int64(5)))
	receive(t, ctx, owner, 2)
	r := readersOf(t, srv, "cg1")
	if len(r) != 1 || r[0].OwnerLevel == nil || *r[0].OwnerLevel != 5 {
		t.Fatalf("after an owner took the partition: %+v, want the owner alone, with level 5", r)
	}
	if d := readersOf(t, srv, "$Default"); len(d) != 0 {
		t.Fatalf("$Default has readers %+v", d)
	}
	p := srv.Snapshot().Hubs[0].Partitions[0]
	if p.FirstSequenceNumber != 0 || p.LastSequenceNumber != 1 || p.Empty || p.EventsIn != 2 || p.BytesIn != 5 || p.EventsOut != 4 || p.BytesOut != 10 {
		t.Fatalf("partition 0: %+v; want 2 events (5 bytes) in, each delivered twice", p)
	}
	if err := owner.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := readersOf(t, srv, "cg1"); len(r) != 0 {
		t.Fatalf("after the owner closed: %+v", r)
	}

	// Fault hits by kind: a pause holds back the reader with credit and an
	// event to deliver.
	reader := open(nil)
	receive(t, ctx, reader, 2)
	if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "eh1", Partition: "0"}); err != nil {
		t.Fatal(err)
	}
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("f")})
	for deadline := time.Now().Add(10 * time.Second); srv.Stats().Faults.Hits[emulator.FaultPausePartition] == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("a paused partition with a reader waiting: hits %v", srv.Stats().Faults.Hits)
		}
		time.Sleep(10 * time.Millisecond) // polling a counter, not synchronising
	}
	st := srv.Stats().Faults
	if len(st.Hits) != len(emulator.FaultKinds) || st.Hits[emulator.FaultServerBusy] != 0 {
		t.Fatalf("hits %v: want every kind, none for server-busy", st.Hits)
	}
	srv.ClearFaults()
	receive(t, ctx, reader, 1)
}
