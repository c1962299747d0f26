package eventhubs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// A read whose context ends while its fetcher holds a chunk it took off
// the link and could not hand out (the reader busy with the chunks before)
// must not leave the link to the next read as if it stood where the
// reader stopped: read again from there, the events come whole. (Found by
// the chaos test: after a PostgreSQL restart, ForeachPartition cancelled
// the reads of a failed batch, and its run again failed with "wanted
// sequence number N, the next available is N+13: events were removed
// (retention)" on a hub that keeps everything.)
func TestReadAgainAfterCancelledReadLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "again", PartitionCount: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer CloseAll(context.Background())
	const n, chunk = 1000, 100
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("again"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "0"
	b, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "e%d", i)}, nil)
	}
	if err := p.SendEventDataBatch(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)

	conf := NewConf(srv.ConnectionString("again")).SetReceiverTimeout(5 * time.Second).SetPrefetch(chunk)
	if receiveCount(conf, "0") != chunk {
		t.Fatalf("receiveCount %d, want %d", receiveCount(conf, "0"), chunk)
	}
	c, err := defaultPool.clientFor(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	r := OffsetRange{Name: "again", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: n}

	// The reader holds the first event until the fetcher has taken three
	// chunks off the link (one with the reader, one waiting in the channel,
	// one it cannot hand over); then the read is cancelled.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	release := make(chan struct{})
	done := make(chan error, 1)
	var handed int64
	go func() {
		_, err := readRange(rctx, conf, c, r, nil, func(*Event) bool {
			if handed == 0 {
				<-release
			}
			handed++
			return true
		})
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for srv.Stats().EventsSent < 3*chunk {
		if time.Now().After(deadline) {
			t.Fatalf("the emulator sent %d events, want %d", srv.Stats().EventsSent, 3*chunk)
		}
		time.Sleep(5 * time.Millisecond)
	}
	rcancel()
	close(release)
	if err := <-done; err == nil {
		t.Fatal("the cancelled read returned no error")
	}

	// Read the rest from where the reader stopped.
	want := handed
	var got []int64
	_, err = readRange(ctx, conf, c, OffsetRange{Name: "again", PartitionID: "0", FromSeqNo: want, UntilSeqNo: n}, nil, func(e *Event) bool {
		got = append(got, e.SequenceNumber)
		return true
	})
	if err != nil {
		t.Fatalf("reading [%d, %d) after the cancelled read: %v", want, n, err)
	}
	if int64(len(got)) != n-want || got[0] != want || got[len(got)-1] != n-1 {
		t.Fatalf("reading [%d, %d) after the cancelled read got %d events from %d; want %d from %d", want, n, len(got), got[0], n-want, want)
	}
}
