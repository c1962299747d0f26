package eventhubs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// Two checks of an idle link in a row (a stream's claim, then its start)
// each keep the event that came: the read after hands out both, in order,
// and loses none.
func TestHoldKeepsEveryEventItReceives(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "held", PartitionCount: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer CloseAll(context.Background())
	conf := NewConf(srv.ConnectionString("held")).SetReceiverTimeout(5 * time.Second)
	c, err := defaultPool.clientFor(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	send := func(i int) {
		p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("held"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		id := "0"
		b, _ := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		b.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "e%d", i)}, nil)
		if err := p.SendEventDataBatch(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	next := map[string]int64{"0": 0}
	empty := PartitionBounds{PartitionID: "0"}
	if err := c.hold(ctx, conf, []PartitionBounds{empty}, next); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		send(i)
		// Each check waits for the event sent just before it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if err := c.hold(ctx, conf, []PartitionBounds{empty}, next); err != nil {
				t.Fatal(err)
			}
			rcv, _ := c.acquire(ctx, "0")
			n := len(rcv.pending)
			c.put(rcv)
			if n == i+1 || time.Now().After(deadline) {
				break
			}
		}
	}
	var got []int64
	_, err = readRange(ctx, conf, c, OffsetRange{Name: "held", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 2}, nil, func(e *Event) bool {
		got = append(got, e.SequenceNumber)
		return true
	})
	if err != nil || fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("read after two checks: %v, %v; want [0 1]", got, err)
	}
}
