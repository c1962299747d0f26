package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
)

func TestHubAndPartitionProperties(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	p := producer(t, srv, "eh1")

	hp, err := p.GetEventHubProperties(ctx, nil)
	if err != nil {
		t.Fatalf("hub properties: %v", err)
	}
	if hp.Name != "eh1" || fmt.Sprint(hp.PartitionIDs) != "[0 1]" || hp.CreatedOn.IsZero() {
		t.Fatalf("hub properties = %+v, want eh1 with partitions [0 1] and a creation time", hp)
	}

	empty, err := p.GetPartitionProperties(ctx, "1", nil)
	if err != nil {
		t.Fatalf("empty partition properties: %v", err)
	}
	if !empty.IsEmpty || empty.LastEnqueuedSequenceNumber != -1 || empty.PartitionID != "1" || empty.EventHubName != "eh1" {
		t.Fatalf("empty partition = %+v, want empty with last sequence number -1", empty)
	}

	before := time.Now().Add(-time.Second)
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("a")}, &azeventhubs.EventData{Body: []byte("b")}, &azeventhubs.EventData{Body: []byte("c")})
	full, err := p.GetPartitionProperties(ctx, "0", nil)
	if err != nil {
		t.Fatalf("partition properties: %v", err)
	}
	if full.IsEmpty || full.BeginningSequenceNumber != 0 || full.LastEnqueuedSequenceNumber != 2 {
		t.Fatalf("partition 0 = %+v, want sequence numbers 0..2", full)
	}
	if _, err := strconv.ParseInt(full.LastEnqueuedOffset, 10, 64); err != nil || full.LastEnqueuedOn.Before(before) {
		t.Fatalf("partition 0 = %+v, want a decimal offset and a recent enqueued time", full)
	}
	if _, err := p.GetPartitionProperties(ctx, "7", nil); err == nil {
		t.Fatalf("properties of partition 7 of a 2-partition hub: no error")
	}
}

// Stats counts each $management request by what it asked, answered or
// refused: a stream's planning is judged by the calls it makes.
func TestStatsCountManagementRequests(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	for op, n := range srv.Stats().ManagementRequests {
		if n != 0 {
			t.Fatalf("%s requests before any client asked: %d", op, n)
		}
	}
	if _, err := c.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0", "1", "1"} {
		if _, err := c.GetPartitionProperties(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetPartitionProperties(ctx, "7", nil); err == nil {
		t.Fatal("properties of partition 7 of a 2-partition hub: no error")
	}
	got := srv.Stats().ManagementRequests
	want := map[emulator.ManagementOp]int64{emulator.ManagementHub: 1, emulator.ManagementPartition: 4, emulator.ManagementOther: 0}
	if len(got) != len(emulator.ManagementOps) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("management requests %v, want %v", got, want)
	}
}

func TestSendAndReceiveEveryStartPosition(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")

	var sent []*azeventhubs.EventData
	for i := 0; i < 10; i++ {
		sent = append(sent, &azeventhubs.EventData{
			Body:        []byte(fmt.Sprintf("event-%d", i)),
			Properties:  map[string]any{"i": int64(i), "kind": "test", "ok": true},
			ContentType: to.Ptr("text/plain"),
			MessageID:   to.Ptr(fmt.Sprintf("m-%d", i)),
		})
	}
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, sent[:5]...)
	// Not synchronisation: enqueued times have millisecond precision, and
	// the enqueued-time positions below need the batches a few apart.
	time.Sleep(5 * time.Millisecond)
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, sent[5:]...)

	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	read := func(pos azeventhubs.StartPosition, n int) []*azeventhubs.ReceivedEventData {
		t.Helper()
		pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: pos})
		if err != nil {
			t.Fatalf("partition client: %v", err)
		}
		defer pc.Close(ctx)
		return receive(t, ctx, pc, n)
	}
	all := read(azeventhubs.StartPosition{Earliest: to.Ptr(true)}, 10)
	for i, e := range all {
		if e.SequenceNumber != int64(i) || !bytes.Equal(e.Body, sent[i].Body) {
			t.Fatalf("event %d: sequence number %d body %q, want %d %q", i, e.SequenceNumber, e.Body, i, sent[i].Body)
		}
		if e.Properties["i"] != int64(i) || e.Properties["kind"] != "test" || e.Properties["ok"] != true {
			t.Fatalf("event %d properties = %v", i, e.Properties)
		}
		if e.ContentType == nil || *e.ContentType != "text/plain" || e.MessageID == nil || *e.MessageID != fmt.Sprintf("m-%d", i) {
			t.Fatalf("event %d content type %v message id %v", i, e.ContentType, e.MessageID)
		}
		if e.EnqueuedTime == nil || time.Since(*e.EnqueuedTime) > time.Minute {
			t.Fatalf("event %d enqueued time %v, now %v", i, e.EnqueuedTime, time.Now())
		}
		if i > 0 {
			prev, _ := strconv.ParseInt(all[i-1].Offset, 10, 64)
			cur, err := strconv.ParseInt(e.Offset, 10, 64)
			if err != nil || cur <= prev {
				t.Fatalf("offsets %q then %q: want increasing decimals", all[i-1].Offset, e.Offset)
			}
		}
	}

	check := func(name string, got []*azeventhubs.ReceivedEventData, first int64) {
		t.Helper()
		if got[0].SequenceNumber != first {
			t.Fatalf("%s: first sequence number %d, want %d", name, got[0].SequenceNumber, first)
		}
	}
	check("sequence number 4 inclusive", read(azeventhubs.StartPosition{SequenceNumber: to.Ptr(int64(4)), Inclusive: true}, 1), 4)
	check("sequence number 4 exclusive", read(azeventhubs.StartPosition{SequenceNumber: to.Ptr(int64(4))}, 1), 5)
	check("offset of 6 inclusive", read(azeventhubs.StartPosition{Offset: to.Ptr(all[6].Offset), Inclusive: true}, 1), 6)
	check("offset of 6 exclusive", read(azeventhubs.StartPosition{Offset: to.Ptr(all[6].Offset)}, 1), 7)
	t1, t2 := *all[0].EnqueuedTime, *all[5].EnqueuedTime
	check("enqueued time of batch 1, exclusive", read(azeventhubs.StartPosition{EnqueuedTime: &t1}, 1), 5)
	check("enqueued time of batch 1, inclusive", read(azeventhubs.StartPosition{EnqueuedTime: &t1, Inclusive: true}, 1), 0)
	check("enqueued time of batch 2, inclusive", read(azeventhubs.StartPosition{EnqueuedTime: &t2, Inclusive: true}, 1), 5)

	// Latest: only what is sent after the link is open.
	pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Latest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	evs, _ := pc.ReceiveEvents(short, 1, nil) // opens the link; nothing is there yet
	cancel()
	if len(evs) != 0 {
		t.Fatalf("latest: got %d old events", len(evs))
	}
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("new")})
	check("latest", receive(t, ctx, pc, 1), 10)
}

func TestPartitionKeyAndRoundRobin(t *testing.T) {
	srv := start(t, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "keys", PartitionCount: 4}}})
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "keys")

	for i := 0; i < 3; i++ {
		sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionKey: to.Ptr("device-42")}, &azeventhubs.EventData{Body: []byte("k")})
	}
	for i := 0; i < 8; i++ {
		sendBatch(t, ctx, p, nil, &azeventhubs.EventData{Body: []byte("rr")})
	}
	c := consumer(t, srv, "keys", azeventhubs.DefaultConsumerGroup)
	keyed, spread := 0, 0
	for _, id := range []string{"0", "1", "2", "3"} {
		props, err := p.GetPartitionProperties(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := int(props.LastEnqueuedSequenceNumber + 1)
		if n == 0 {
			t.Fatalf("partition %s got no events: keyless batches are not spread over all partitions", id)
		}
		pc, err := c.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range receive(t, ctx, pc, n) {
			if string(e.Body) == "k" {
				keyed++
				if e.PartitionKey == nil || *e.PartitionKey != "device-42" {
					t.Fatalf("keyed event without its partition key: %v", e.PartitionKey)
				}
				if keyed == 1 && n < 3 {
					t.Fatalf("the 3 events with one key landed on different partitions")
				}
			} else {
				spread++
			}
		}
		pc.Close(ctx)
	}
	if keyed != 3 || spread != 8 {
		t.Fatalf("read %d keyed and %d keyless events, want 3 and 8", keyed, spread)
	}
}

func TestLargeEvents(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")

	big := bytes.Repeat([]byte("0123456789abcdef"), 800*1024/16)
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")}, &azeventhubs.EventData{Body: big})
	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	pc, err := c.NewPartitionClient("1", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	if got := receive(t, ctx, pc, 1)[0]; !bytes.Equal(got.Body, big) {
		t.Fatalf("800 KiB event came back with %d bytes", len(got.Body))
	}

	// The SDK refuses a 1.5 MiB event itself, from the link's max-message-size.
	huge := make([]byte, 1536*1024)
	batch, err := p.NewEventDataBatch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.AddEventData(&azeventhubs.EventData{Body: huge}, nil); !errors.Is(err, azeventhubs.ErrEventDataTooLarge) {
		t.Fatalf("adding a 1.5 MiB event: %v, want ErrEventDataTooLarge", err)
	}

	// A client that ignores the limit is refused by the emulator.
	conn, err := amqp.Dial(ctx, "amqp://"+srv.Addr(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "eh1/Partitions/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if snd.MaxMessageSize() != emulator.DefaultMaxEventSize {
		t.Fatalf("max-message-size on attach = %d, want %d", snd.MaxMessageSize(), emulator.DefaultMaxEventSize)
	}
	err = snd.Send(ctx, amqp.NewMessage(huge), nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Condition != "amqp:link:message-size-exceeded" {
		t.Fatalf("raw send of 1.5 MiB: %v, want amqp:link:message-size-exceeded", err)
	}
	props, err := p.GetPartitionProperties(ctx, "1", nil)
	if err != nil || props.LastEnqueuedSequenceNumber != 0 {
		t.Fatalf("partition 1 after the refused send: %+v %v, want only the 800 KiB event", props, err)
	}
}

func TestOwnerLevel(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("x")})

	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	open := func(level int64) *azeventhubs.PartitionClient {
		pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{
			StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}, OwnerLevel: to.Ptr(level)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close(context.Background()) })
		return pc
	}
	low := open(1)
	receive(t, ctx, low, 1)
	high := open(2)
	receive(t, ctx, high, 1)

	_, err := low.ReceiveEvents(ctx, 1, nil)
	var ehErr *azeventhubs.Error
	if !errors.As(err, &ehErr) || ehErr.Code != azeventhubs.ErrorCodeOwnershipLost {
		t.Fatalf("the older reader got %v, want ownershiplost", err)
	}
	lower := open(1)
	_, err = lower.ReceiveEvents(ctx, 1, nil)
	if !errors.As(err, &ehErr) || ehErr.Code != azeventhubs.ErrorCodeOwnershipLost {
		t.Fatalf("a reader with a lower owner level got %v, want ownershiplost", err)
	}
}

func TestUnknownEntitiesFailFast(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	began := time.Now()

	p := producer(t, srv, "nosuchhub")
	if _, err := p.GetEventHubProperties(ctx, nil); err == nil {
		t.Fatal("properties of an unknown hub: no error")
	}
	batch, err := producer(t, srv, "eh1").NewEventDataBatch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.SendEventDataBatch(ctx, batch, nil); err == nil {
		t.Fatal("sending to an unknown hub: no error")
	}
	c := consumer(t, srv, "eh1", "nosuchgroup")
	pc, err := c.NewPartitionClient("0", nil)
	if err == nil {
		_, err = pc.ReceiveEvents(ctx, 1, nil)
		pc.Close(ctx)
	}
	if err == nil {
		t.Fatal("receiving with an unknown consumer group: no error")
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("unknown entities took %s to fail, want seconds", took)
	}
}

func TestConsumerGroupsAreCaseInsensitive(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("x")})
	for _, g := range []string{"$default", "CG1"} {
		pc, err := consumer(t, srv, "eh1", g).NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		receive(t, ctx, pc, 1)
		pc.Close(ctx)
	}
}

func TestProcessorClaimsEveryPartition(t *testing.T) {
	srv := start(t, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "proc", PartitionCount: 3}}})
	ctx := testCtx(t, 90*time.Second)
	p := producer(t, srv, "proc")
	for _, id := range []string{"0", "1", "2"} {
		sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(id)},
			&azeventhubs.EventData{Body: []byte(id + "-a")}, &azeventhubs.EventData{Body: []byte(id + "-b")})
	}
	c := consumer(t, srv, "proc", azeventhubs.DefaultConsumerGroup)
	proc, err := azeventhubs.NewProcessor(c, newMemCheckpoints(), &azeventhubs.ProcessorOptions{
		UpdateInterval:        200 * time.Millisecond,
		StartPositions:        azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: to.Ptr(true)}},
		LoadBalancingStrategy: azeventhubs.ProcessorStrategyGreedy,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- proc.Run(runCtx) }()

	got := make(chan string, 16)
	for i := 0; i < 3; i++ {
		pc := proc.NextPartitionClient(ctx)
		if pc == nil {
			t.Fatalf("processor gave %d partition clients, want 3", i)
		}
		go func(pc *azeventhubs.ProcessorPartitionClient) {
			defer pc.Close(context.Background())
			for n := 0; n < 2; {
				evs, err := pc.ReceiveEvents(runCtx, 2-n, nil)
				if err != nil {
					return
				}
				for _, e := range evs {
					got <- string(e.Body)
					if err := pc.UpdateCheckpoint(runCtx, e, nil); err != nil {
						return
					}
				}
				n += len(evs)
			}
		}(pc)
	}
	seen := map[string]bool{}
	for len(seen) < 6 {
		select {
		case b := <-got:
			seen[b] = true
		case <-ctx.Done():
			t.Fatalf("processor read %v before the deadline, want 6 events", seen)
		}
	}
	stop()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("processor: %v", err)
	}
}

func TestRetention(t *testing.T) {
	srv := start(t, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "short", PartitionCount: 1, Retention: time.Second}}})
	ctx := testCtx(t, 30*time.Second)
	p := producer(t, srv, "short")
	sendBatch(t, ctx, p, nil, &azeventhubs.EventData{Body: []byte("old-1")}, &azeventhubs.EventData{Body: []byte("old-2")})

	for {
		props, err := p.GetPartitionProperties(ctx, "0", nil)
		if err != nil {
			t.Fatal(err)
		}
		if props.BeginningSequenceNumber == 2 {
			if !props.IsEmpty || props.LastEnqueuedSequenceNumber != 1 {
				t.Fatalf("after expiry: %+v, want empty with last sequence number 1", props)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("beginning sequence number still %d after the deadline", props.BeginningSequenceNumber)
		}
		time.Sleep(50 * time.Millisecond) // polling the service, not synchronising
	}
	sendBatch(t, ctx, p, nil, &azeventhubs.EventData{Body: []byte("new")})
	pc, err := consumer(t, srv, "short", azeventhubs.DefaultConsumerGroup).NewPartitionClient("0",
		&azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	if e := receive(t, ctx, pc, 1)[0]; e.SequenceNumber != 2 || string(e.Body) != "new" {
		t.Fatalf("earliest after expiry: %d %q, want sequence number 2 \"new\"", e.SequenceNumber, e.Body)
	}
}
