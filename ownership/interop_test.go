package ownership_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// Where ehstream stands in each partition of the interop hub: partition 2
// at its end, partition 3 at its start (no checkpoint: the Processor's
// StartPositions, Earliest here, apply).
var interopPositions = map[string]int64{"0": 3, "1": 7, "2": 10, "3": 0}

const interopEvents = 11 // per partition

// interopHub starts an emulator with hub "orders" of four partitions of
// interopEvents events each, and returns it with the offset of every event
// by partition and sequence number.
func interopHub(t *testing.T) (*emulator.Server, map[string][]string) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: len(interopPositions)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("orders"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	c, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString("orders"), "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	offsetsOf := map[string][]string{}
	for part := range interopPositions {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(part)})
		if err != nil {
			t.Fatal(err)
		}
		for i := range interopEvents {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "%s-%d", part, i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
		pc, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		for len(offsetsOf[part]) < interopEvents {
			evs, err := pc.ReceiveEvents(ctx, interopEvents-len(offsetsOf[part]), nil)
			if err != nil {
				t.Fatalf("reading partition %s: %v", part, err)
			}
			for _, e := range evs {
				offsetsOf[part] = append(offsetsOf[part], e.Offset)
			}
		}
		pc.Close(ctx)
	}
	return srv, offsetsOf
}

// runProcessor runs a stock azeventhubs.Processor over store until it has
// received the first event of every partition and checkpointed it with
// UpdateCheckpoint, stops it, and returns those first events by partition.
// It checks that the Processor owned every partition while it ran, and
// relinquished them all when it stopped.
func runProcessor(t *testing.T, srv *emulator.Server, store azeventhubs.CheckpointStore) map[string]*azeventhubs.ReceivedEventData {
	t.Helper()
	ctx := testCtx(t, 90*time.Second)
	c, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString("orders"), "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	proc, err := azeventhubs.NewProcessor(c, store, &azeventhubs.ProcessorOptions{
		UpdateInterval:        100 * time.Millisecond,
		LoadBalancingStrategy: azeventhubs.ProcessorStrategyGreedy,
		StartPositions:        azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: to.Ptr(true)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- proc.Run(runCtx) }()

	type first struct {
		part string
		ev   *azeventhubs.ReceivedEventData
		err  error
	}
	firsts := make(chan first, len(interopPositions))
	for range interopPositions {
		pc := proc.NextPartitionClient(ctx)
		if pc == nil {
			t.Fatalf("the processor stopped handing out partitions: %v", <-runErr)
		}
		go func() {
			defer pc.Close(context.Background())
			evs, err := pc.ReceiveEvents(runCtx, 1, nil)
			if err == nil && len(evs) == 1 {
				err = pc.UpdateCheckpoint(runCtx, evs[0], nil)
			}
			f := first{part: pc.PartitionID(), err: err}
			if len(evs) > 0 {
				f.ev = evs[0]
			}
			firsts <- f
		}()
	}
	got := map[string]*azeventhubs.ReceivedEventData{}
	timeout := time.After(20 * time.Second)
	for range interopPositions {
		select {
		case f := <-firsts:
			if f.err != nil || f.ev == nil {
				t.Fatalf("partition %s: first receive and checkpoint: %v", f.part, f.err)
			}
			got[f.part] = f.ev
		case <-timeout:
			// Started past the end of a partition, most likely.
			t.Fatalf("after 20s the processor has received only %d partitions' first events: %v", len(got), got)
		}
	}

	// The namespace as the SDK names it: the emulator's host and port.
	fqn := srv.Addr()
	owners := ownersOf(t, store, fqn)
	if len(owners) != len(interopPositions) {
		t.Fatalf("while the processor runs the records are %v, want one owner of every partition", owners)
	}
	for p, o := range owners {
		if o == "" || o != owners["0"] {
			t.Fatalf("while the processor runs partition %s is %q's, want all one processor's: %v", p, o, owners)
		}
	}
	stop()
	if err := <-runErr; err != nil {
		t.Fatalf("processor: %v", err)
	}
	for p, o := range ownersOf(t, store, fqn) {
		if o != "" {
			t.Fatalf("after the processor stopped, partition %s is still %q's: it relinquishes what it owns", p, o)
		}
	}
	return got
}

// ownersOf is the owner of each partition of hub orders, by partition.
func ownersOf(t *testing.T, store azeventhubs.CheckpointStore, fqn string) map[string]string {
	t.Helper()
	os, err := store.ListOwnership(testCtx(t, 30*time.Second), fqn, "orders", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range os {
		out[o.PartitionID] = o.OwnerID
	}
	return out
}

// checkFirsts fails unless the processor's first event of each partition
// is the one at ehstream's position.
func checkFirsts(t *testing.T, got map[string]*azeventhubs.ReceivedEventData) {
	t.Helper()
	for p, want := range interopPositions {
		if e := got[p]; e == nil || e.SequenceNumber != want || string(e.Body) != fmt.Sprintf("%s-%d", p, want) {
			t.Errorf("partition %s: the processor's first event is %+v, want sequence number %d, where ehstream stands", p, e, want)
		}
	}
}

// A stock Processor over the PostgreSQL store, after ehstream committed
// positions for the job, starts each partition exactly at the stored
// position; its UpdateCheckpoint moves the job's positions; and it
// relinquishes its partitions when it stops.
func TestProcessorStartsAtPositionsPostgres(t *testing.T) {
	db := openPostgres(t)
	srv, _ := interopHub(t)
	positions, store := sqlStores(t, db, "totals")
	// The job as offsets.JobFor names it from the emulator's connection
	// string: the host without the port.
	j := offsets.Job{Name: "totals", Namespace: "127.0.0.1", EventHub: "orders", ConsumerGroup: azeventhubs.DefaultConsumerGroup}
	var ranges []eventhubs.OffsetRange
	for p, next := range interopPositions {
		ranges = append(ranges, eventhubs.OffsetRange{Name: "orders", PartitionID: p, FromSeqNo: 0, UntilSeqNo: next})
	}
	if err := commitRanges(t, db, positions, j, ranges...); err != nil {
		t.Fatal(err)
	}
	checkFirsts(t, runProcessor(t, srv, store))
	loaded, err := positions.LoadPositions(testCtx(t, 30*time.Second), j)
	if err != nil {
		t.Fatal(err)
	}
	for p, next := range interopPositions {
		if got := loaded[p].SequenceNumber(); got != next+1 {
			t.Errorf("partition %s: after the processor checkpointed event %d the job's position is %d, want %d", p, next, got, next+1)
		}
	}
}

// The same over the SDK's blob store on Azurite: checkpoints written with
// the blob store's SetCheckpoint as an ehstream replica writes them (the
// last event processed: its sequence number and offset) are where a stock
// Processor starts.
func TestProcessorStartsAtCheckpointsBlob(t *testing.T) {
	store, _ := blobStore(t)
	srv, offsetsOf := interopHub(t)
	fqn := srv.Addr()
	for p, next := range interopPositions {
		if next == 0 {
			continue // nothing processed: no checkpoint
		}
		seq, off := next-1, offsetsOf[p][next-1]
		if err := store.SetCheckpoint(testCtx(t, 30*time.Second), azeventhubs.Checkpoint{FullyQualifiedNamespace: fqn, EventHubName: "orders",
			ConsumerGroup: azeventhubs.DefaultConsumerGroup, PartitionID: p, SequenceNumber: &seq, Offset: &off}, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkFirsts(t, runProcessor(t, srv, store))
	cps, err := store.ListCheckpoints(testCtx(t, 30*time.Second), fqn, "orders", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		if want := interopPositions[c.PartitionID]; *c.SequenceNumber != want || *c.Offset != offsetsOf[c.PartitionID][want] {
			t.Errorf("partition %s: checkpoint %d at %s after the processor's UpdateCheckpoint, want %d at %s",
				c.PartitionID, *c.SequenceNumber, *c.Offset, want, offsetsOf[c.PartitionID][want])
		}
	}
	if len(cps) != len(interopPositions) {
		t.Errorf("%d checkpoints, want %d", len(cps), len(interopPositions))
	}
}

// The SDK's blob store cannot list a checkpoint written without an Offset:
// a replica that checkpoints there must give the offset too.
func TestBlobCheckpointNeedsOffset(t *testing.T) {
	store, _ := blobStore(t)
	seq := int64(4)
	if err := store.SetCheckpoint(testCtx(t, 30*time.Second), azeventhubs.Checkpoint{FullyQualifiedNamespace: testNamespace, EventHubName: testHub,
		ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: &seq}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ListCheckpoints(testCtx(t, 30*time.Second), testNamespace, testHub, testGroup, nil); err == nil {
		t.Fatal("the SDK's blob store listed a checkpoint without an offset; NewBlobStore's doc says it cannot")
	}
}
