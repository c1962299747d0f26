package emulator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// TestFiveReadersPerPartitionAndGroup: as on the service, five readers
// without an owner level may read one partition in one consumer group;
// the sixth is refused at once with amqp:resource-limit-exceeded and the
// service's text, other groups and partitions are not affected, and once
// one of the five closes, a new one gets in.
func TestFiveReadersPerPartitionAndGroup(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("e")})
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")},
		&azeventhubs.EventData{Body: []byte("e")})
	c := consumer(t, srv, "eh1", "$Default")
	// open attaches a reader of partition id and reads the event, which
	// proves the link is attached; it returns the error of the attach.
	open := func(group *azeventhubs.ConsumerClient, id string) (*azeventhubs.PartitionClient, error) {
		pc, err := group.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		evs, err := pc.ReceiveEvents(rctx, 1, nil)
		if err == nil && len(evs) != 1 {
			t.Fatalf("reader %s received %d events, want 1", id, len(evs))
		}
		if err != nil {
			pc.Close(context.Background())
			return nil, err
		}
		t.Cleanup(func() { pc.Close(context.Background()) })
		return pc, nil
	}
	var readers []*azeventhubs.PartitionClient
	for i := range 5 {
		pc, err := open(c, "0")
		if err != nil {
			t.Fatalf("reader %d of 5: %v", i+1, err)
		}
		readers = append(readers, pc)
	}
	began := time.Now()
	_, err := open(c, "0")
	if err == nil {
		t.Fatal("a sixth reader without an owner level was let in")
	}
	for _, want := range []string{"amqp:resource-limit-exceeded",
		"Exceeded the maximum number of allowed receivers per partition in a consumer group which is 5. List of connected receivers - "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("sixth reader: %v, want it to say %q", err, want)
		}
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the sixth reader was refused after %s, want at once", took)
	}
	t.Logf("sixth reader: %v", err)
	// The limit is per partition and consumer group.
	if _, err := open(c, "1"); err != nil {
		t.Fatalf("a reader of another partition: %v", err)
	}
	if _, err := open(consumer(t, srv, "eh1", "cg1"), "0"); err != nil {
		t.Fatalf("a reader in another consumer group: %v", err)
	}
	// Closing one of the five lets a new one in.
	if err := readers[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := open(c, "0"); err != nil {
		t.Fatalf("a reader after one of the five closed: %v", err)
	}
	if _, err := open(c, "0"); err == nil {
		t.Fatal("a sixth reader was let in again")
	}
}
