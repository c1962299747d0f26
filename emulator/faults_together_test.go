package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
)

// hitsOf is each fault in effect's hits, by ID.
func hitsOf(srv *emulator.Server) map[int64]int64 {
	hits := map[int64]int64{}
	for _, af := range srv.Faults() {
		hits[af.ID] = af.Hits
	}
	return hits
}

// When several faults in effect cover the same thing, one acts and is
// counted: the oldest for server-busy and pause-partition, the longest
// delay (the oldest of equals) for delay-frames. A kind's hits in Stats
// are the sum of its faults', and the counts kept for older programs
// (SendsRejected, ReceiversDetached, ConnectionsDropped) equal them.
func TestFaultsActingTogether(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producerWith(t, srv, "eh1", azeventhubs.RetryOptions{MaxRetries: -1})
	if err := sendN(ctx, p, "0", "warm", 0, 1); err != nil { // the link is attached
		t.Fatal(err)
	}

	everywhere := inject(t, srv, emulator.Fault{Kind: emulator.FaultServerBusy})
	narrow := inject(t, srv, emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "eh1", Partition: "0"})
	refused := func(acting emulator.ActiveFault) {
		t.Helper()
		err := sendN(ctx, p, "0", "busy", 0, 1)
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Condition != "com.microsoft:server-busy" || !strings.Contains(ae.Description, fmt.Sprintf("(fault %d)", acting.ID)) {
			t.Fatalf("send under two server-busy faults: %v, want com.microsoft:server-busy naming fault %d", err, acting.ID)
		}
	}
	refused(everywhere)
	if h := hitsOf(srv); h[everywhere.ID] != 1 || h[narrow.ID] != 0 {
		t.Fatalf("hits %v: want 1 for the older fault %d, 0 for %d", h, everywhere.ID, narrow.ID)
	}
	srv.RemoveFault(everywhere.ID)
	refused(narrow)
	if h := hitsOf(srv); h[narrow.ID] != 1 {
		t.Fatalf("hits %v: want 1 for fault %d once the older one is gone", h, narrow.ID)
	}
	srv.ClearFaults()

	short := inject(t, srv, emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: time.Millisecond})
	long := inject(t, srv, emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: 20 * time.Millisecond})
	tie := inject(t, srv, emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: 20 * time.Millisecond})
	if _, err := p.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatal(err)
	}
	h := hitsOf(srv)
	srv.ClearFaults()
	if h[long.ID] == 0 || h[short.ID] != 0 || h[tie.ID] != 0 {
		t.Fatalf("hits %v: want hits for fault %d only, the longest delay and the older of two equal ones", h, long.ID)
	}

	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	pc := partitionClient(t, c, "0", &azeventhubs.PartitionClientOptions{Prefetch: -1})
	hub := inject(t, srv, emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "eh1"})
	part := inject(t, srv, emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "eh1", Partition: "0"})
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	evs, _ := pc.ReceiveEvents(rctx, 1, nil)
	cancel()
	h = hitsOf(srv)
	srv.ClearFaults()
	if len(evs) != 0 || h[hub.ID] == 0 || h[part.ID] != 0 {
		t.Fatalf("paused twice: %d events, hits %v; want none, and hits for fault %d only", len(evs), h, hub.ID)
	}

	st := srv.Stats().Faults
	if st.SendsRejected != st.Hits[emulator.FaultServerBusy] || st.ReceiversDetached != st.Hits[emulator.FaultDetachReceivers] ||
		st.ConnectionsDropped != st.Hits[emulator.FaultDropConnections] || st.Hits[emulator.FaultServerBusy] != 2 {
		t.Fatalf("stats %+v: want 2 sends refused, and each older count equal to its kind's hits", st)
	}
}
