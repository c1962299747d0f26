package emulator_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// fillPartition sends n events of size bytes to a partition in full
// batches.
func fillPartition(t testing.TB, ctx context.Context, srv *emulator.Server, hub, partition string, n, size int) {
	t.Helper()
	p := producer(t, srv, hub)
	body := bytes.Repeat([]byte("x"), size)
	for sent := 0; sent < n; {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(partition)})
		if err != nil {
			t.Fatal(err)
		}
		for ; sent < n; sent++ {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: body}, nil); err != nil {
				break // full
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStaleFlowGrantsNoExtraCredit: a flow whose delivery-count lags the
// emulator's (the client has not counted the transfers in flight) grants
// credit from the client's count. Credit 0 from count 0, after 5
// transfers, leaves none; it used to wrap to about 4 billion, and the
// emulator sent the whole partition.
func TestStaleFlowGrantsNoExtraCredit(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	fillPartition(t, ctx, srv, "eh1", "0", 100, 10)
	raw := dialRaw(t, srv, 0)
	raw.attachReceiver(0, "eh1/ConsumerGroups/$Default/Partitions/0")
	raw.flow(0, 0, 5, false, false)
	transfers := 0
	raw.until("5 transfers", func(p amqp.Performative) bool {
		if _, ok := p.(*amqp.Transfer); ok {
			transfers++
		}
		return transfers == 5
	})
	// The client stops the link, counting from where it started.
	raw.flow(0, 0, 0, false, true)
	raw.until("echo of the stale flow", func(p amqp.Performative) bool {
		switch p := p.(type) {
		case *amqp.Transfer:
			transfers++
		case *amqp.Flow:
			if p.Handle != nil {
				if *p.DeliveryCount != 5 || *p.LinkCredit != 0 {
					t.Errorf("after the stale flow the emulator has delivery-count %d and credit %d, want 5 and 0", *p.DeliveryCount, *p.LinkCredit)
				}
				return true
			}
		}
		return false
	})
	// A drain answered means nothing more is coming.
	raw.flow(0, 5, 0, true, false)
	raw.until("answer to the drain", func(p amqp.Performative) bool {
		switch p := p.(type) {
		case *amqp.Transfer:
			transfers++
		case *amqp.Flow:
			return p.Handle != nil && p.Drain
		}
		return false
	})
	if transfers != 5 {
		t.Fatalf("%d transfers for 5 credits", transfers)
	}
}

// TestDrainIsAlwaysAnswered: go-amqp's DrainCredit sends a flow with drain
// set and link-credit 0, then waits for the answer. The emulator used to
// answer only when it had credit left, so DrainCredit hung.
func TestDrainIsAlwaysAnswered(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	drain := func(r *goamqp.Receiver, what string) {
		t.Helper()
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.DrainCredit(dctx, nil); err != nil {
			t.Fatalf("drain %s: %v", what, err)
		}
	}
	r, err := sess.NewReceiver(ctx, "eh1/ConsumerGroups/$Default/Partitions/0", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	drain(r, "with no credit ever granted")
	if err := r.IssueCredit(5); err != nil {
		t.Fatal(err)
	}
	drain(r, "of 5 credits on an empty partition")
	drain(r, "again, with no credit left")

	fillPartition(t, ctx, srv, "eh1", "1", 10, 10)
	r1, err := sess.NewReceiver(ctx, "eh1/ConsumerGroups/$Default/Partitions/1", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := r1.Receive(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	drain(r1, "after using all credit")
	if err := r1.IssueCredit(20); err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 10; i++ {
		if _, err := r1.Receive(ctx, nil); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	drain(r1, "of more credit than there were events")
	if m := r1.Prefetched(); m != nil {
		t.Fatalf("an event beyond the 10 sent: %v", m)
	}
}
