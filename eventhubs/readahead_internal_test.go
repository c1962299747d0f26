package eventhubs

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// The read-ahead's bound is in bytes of memory: what it counts per event
// (eventBytes) must be about what a received event holds on the heap,
// else a read-ahead of 1 MiB per partition holds several.
func TestEventBytesIsWhatAnEventHolds(t *testing.T) {
	for _, props := range []int{0, 1, 8} {
		t.Run(fmt.Sprintf("%d properties", props), func(t *testing.T) { testEventBytes(t, props) })
	}
}

func testEventBytes(t *testing.T, props int) {
	const n, size = 5000, 100
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "mem", PartitionCount: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cs := srv.ConnectionString("mem")
	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	id, body := "0", make([]byte, size)
	properties := map[string]any{}
	for i := range props {
		properties[fmt.Sprintf("property%d", i)] = fmt.Sprintf("value%d", i)
	}
	for sent := 0; sent < n; {
		b, _ := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		for ; sent < n && b.AddEventData(&azeventhubs.EventData{Body: body, Properties: properties}, nil) == nil; sent++ {
		}
		if err := p.SendEventDataBatch(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(ctx)
	earliest := true
	pc, err := cc.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: &earliest}, Prefetch: DefaultPrefetch})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	kept := make([]*azeventhubs.ReceivedEventData, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for len(kept) < n {
		evs, err := pc.ReceiveEvents(ctx, n-len(kept), nil)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, evs...)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	counted := eventBytes(kept[0])
	t.Logf("a received event of %d bytes holds %d bytes of heap; the read-ahead counts %d", size, held, counted)
	if counted < held*3/4 || counted > held*2 {
		t.Errorf("the read-ahead counts an event of %d bytes as %d bytes, but it holds %d: its bound would be off by %.1fx", size, counted, held, float64(held)/float64(counted))
	}
	runtime.KeepAlive(kept)
}

// Events a read handed out from a read-ahead's buffer are garbage once the
// read lets go of them: neither what is left for the next read nor the
// next read-ahead keeps them.
func TestReadyEventsDoNotOutliveTheirRead(t *testing.T) {
	evs := make([]*azeventhubs.ReceivedEventData, 10)
	for i := range evs {
		evs[i] = &azeventhubs.ReceivedEventData{EventData: azeventhubs.EventData{Body: make([]byte, 100)}, SequenceNumber: int64(i)}
	}
	first, last := weak.Make(evs[0]), weak.Make(evs[9])
	r := &receiver{ready: evs}
	evs = nil
	conf := NewConf("Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=a;EntityPath=h")
	if got := r.receive(context.Background(), conf, 5); len(got.events) != 5 {
		t.Fatalf("the read took %d events, want 5", len(got.events))
	}
	rest := r.takeReady() // what the next read-ahead starts with
	if len(rest) != 5 || r.ready != nil {
		t.Fatalf("the read-ahead took %d events and left %d, want 5 and none", len(rest), len(r.ready))
	}
	runtime.GC()
	if first.Value() != nil {
		t.Error("an event the read handed out and let go of is still held by the read-ahead's buffer")
	}
	if last.Value() == nil {
		t.Fatal("an event the read-ahead holds was collected")
	}
	if got := (&receiver{ready: rest}).receive(context.Background(), conf, 5); len(got.events) != 5 {
		t.Fatalf("the next read took %d events, want 5", len(got.events))
	}
	runtime.KeepAlive(rest)
}
