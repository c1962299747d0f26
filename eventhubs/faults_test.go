package eventhubs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// CreateRDD returns exactly its ranges, every event once and in order,
// when the emulator detaches the receivers (or drops the connections)
// while a large range is read: the fault fires from another goroutine once
// the reader has taken its first events, and the reader waits for it, so
// it always hits a read under way.
func TestCreateRDDSurvivesFaultsMidRead(t *testing.T) {
	const n = 6000
	faults := []emulator.Fault{
		{Kind: emulator.FaultDetachReceivers, Hub: "big"},
		{Kind: emulator.FaultDetachReceivers, Hub: "big", Partition: "0", Condition: "amqp:link:detach-forced"},
		{Kind: emulator.FaultDropConnections},
	}
	srv := startEmulator(t, emulator.HubConfig{Name: "big", PartitionCount: 2})
	ctx := testCtx(t, 90*time.Second)
	fill(t, ctx, srv, "big", "0", 0, n)
	fill(t, ctx, srv, "big", "1", 0, n)
	ranges := []eventhubs.OffsetRange{
		{Name: "big", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: n},
		{Name: "big", PartitionID: "1", FromSeqNo: 10, UntilSeqNo: n - 10},
	}
	rdd, err := eventhubs.CreateRDD(ctx, testConf(srv, "big"), ranges)
	if err != nil {
		t.Fatal(err)
	}

	// Partition 0's reader stops at each of these sequence numbers until
	// the injector has fired the next fault.
	stops := []int64{500, 2500, 4500}
	reached, fired := make(chan int64), make(chan struct{})
	var hits []int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range faults {
			select {
			case <-reached:
			case <-ctx.Done():
				return
			}
			af, err := srv.InjectFault(faults[i])
			if err != nil {
				t.Error(err)
			}
			hits = append(hits, af.Hits)
			fired <- struct{}{}
		}
	})

	began := time.Now()
	seen := make([][]int64, len(ranges))
	err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		r := p.Range()
		for ev, err := range p.Events() {
			if err != nil {
				return err
			}
			if want := body(r.PartitionID, int(ev.SequenceNumber)); string(ev.Body) != want {
				return fmt.Errorf("seq %d has body %q, want %q", ev.SequenceNumber, ev.Body, want)
			}
			seen[p.Index()] = append(seen[p.Index()], ev.SequenceNumber)
			if r.PartitionID == "0" && len(stops) > 0 && ev.SequenceNumber == stops[0] {
				stops = stops[1:]
				select {
				case reached <- ev.SequenceNumber:
				case <-ctx.Done():
					return ctx.Err()
				}
				select {
				case <-fired:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	wg.Wait()
	if err != nil {
		t.Fatalf("ForeachPartition under faults: %v", err)
	}
	for i, r := range ranges {
		if int64(len(seen[i])) != r.Count() {
			t.Errorf("range %s: read %d events, want %d", r, len(seen[i]), r.Count())
		}
		for j, seq := range seen[i] {
			if seq != r.FromSeqNo+int64(j) {
				t.Fatalf("range %s: event %d has seq %d, want %d (lost or repeated)", r, j, seq, r.FromSeqNo+int64(j))
			}
		}
	}
	st := srv.Stats().Faults
	if len(hits) != len(faults) || hits[0] < 1 || hits[1] != 1 || hits[2] < 1 {
		t.Fatalf("the faults hit %v links and connections, want at least one each (partition 0's link was reading)", hits)
	}
	if st.ReceiversDetached < 2 || st.ConnectionsDropped < 1 {
		t.Fatalf("stats %+v: want 2 detaches and a dropped connection", st)
	}
	t.Logf("read %d events through %d faults in %s (hits %v)", len(seen[0])+len(seen[1]), len(faults), time.Since(began).Round(time.Millisecond), hits)
}
