package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// runtimeMetric is the desired capability with which the JavaScript and
// Python SDKs ask for last-enqueued event properties.
const runtimeMetric = "com.microsoft:enable-receiver-runtime-metric"

// lastEnqueuedProps are the last-enqueued event properties of a partition,
// as $management reports them and as a delivery carries them.
type lastEnqueuedProps struct {
	Seq    int64
	Offset string
	At     time.Time
}

func (l lastEnqueuedProps) equal(o lastEnqueuedProps) bool {
	return l.Seq == o.Seq && l.Offset == o.Offset && l.At.Equal(o.At)
}

func (l lastEnqueuedProps) String() string {
	return fmt.Sprintf("sequence %d, offset %q, enqueued %s", l.Seq, l.Offset, l.At.UTC().Format(time.RFC3339Nano))
}

// partitionLastEnqueued reads a partition's properties with the Go SDK: a
// $management READ.
func partitionLastEnqueued(t testing.TB, ctx context.Context, p *azeventhubs.ProducerClient, partition string) lastEnqueuedProps {
	t.Helper()
	props, err := p.GetPartitionProperties(ctx, partition, nil)
	if err != nil {
		t.Fatalf("partition %s properties: %v", partition, err)
	}
	return lastEnqueuedProps{props.LastEnqueuedSequenceNumber, props.LastEnqueuedOffset, props.LastEnqueuedOn}
}

// checkDeliveryAnnotations reads the last-enqueued event properties of a
// delivery with the service's types, and checks that they equal want and
// that they were retrieved within [from, to] and after the last event was
// enqueued (timestamps have milliseconds).
func checkDeliveryAnnotations(t testing.TB, what string, da goamqp.Annotations, want lastEnqueuedProps, from, to time.Time) {
	t.Helper()
	seq, ok1 := da["last_enqueued_sequence_number"].(int64)
	offset, ok2 := da["last_enqueued_offset"].(string)
	at, ok3 := da["last_enqueued_time_utc"].(time.Time)
	retrieved, ok4 := da["runtime_info_retrieval_time_utc"].(time.Time)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		t.Fatalf("%s: delivery annotations %#v, want a long, a string and two timestamps", what, da)
	}
	if got := (lastEnqueuedProps{seq, offset, at}); !got.equal(want) {
		t.Fatalf("%s: last enqueued %s, want the partition's %s", what, got, want)
	}
	if retrieved.Before(from.Truncate(time.Millisecond)) || retrieved.After(to) || retrieved.Before(want.At) {
		t.Fatalf("%s: retrieved at %s, want within [%s, %s] and not before the last event's %s", what, retrieved, from, to, want.At)
	}
}

func receiveMessages(t testing.TB, ctx context.Context, r *goamqp.Receiver, n int) []*goamqp.Message {
	t.Helper()
	var out []*goamqp.Message
	for len(out) < n {
		m, err := r.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("receive: got %d of %d events: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLastEnqueuedPropertiesGoAMQP: a receiver that desires
// com.microsoft:enable-receiver-runtime-metric gets, on every delivery, the
// partition's last enqueued sequence number, offset and enqueued time as
// $management reports them at the same moment (no event is sent between
// the two reads, which the second READ proves), and when they were read.
// Events sent while it waits arrive with the new values. A receiver that
// does not ask gets its events as stored. The Go SDK (azeventhubs v2.0.2)
// has no option for these properties, so go-amqp asks at the wire level,
// as the JavaScript and Python SDKs do.
func TestLastEnqueuedPropertiesGoAMQP(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")
	// Partition 1 has more events: the properties are the partition's own.
	if err := sendN(ctx, p, "1", "other", 0, 5); err != nil {
		t.Fatal(err)
	}
	// The large event takes more than one 64 KiB frame with its annotations.
	large := bytes.Repeat([]byte{'L'}, 100<<10)
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("e0")}, &azeventhubs.EventData{Body: large}, &azeventhubs.EventData{Body: []byte("e2")})
	want := partitionLastEnqueued(t, ctx, p, "0")
	if want.Seq != 2 {
		t.Fatalf("partition 0 last enqueued: %s, want sequence 2", want)
	}

	conn, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	tracking, err := sess.NewReceiver(ctx, "eh1/ConsumerGroups/$Default/Partitions/0", &goamqp.ReceiverOptions{
		Credit: 100, DesiredCapabilities: []string{"com.microsoft:georeplication", runtimeMetric}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sess.NewReceiver(ctx, "eh1/ConsumerGroups/$Default/Partitions/0", &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := receiveMessages(t, ctx, tracking, 3)
	until := time.Now()
	for i, m := range got {
		what := fmt.Sprintf("event %d", i)
		checkDeliveryAnnotations(t, what, m.DeliveryAnnotations, want, from, until)
		if seq := m.Annotations["x-opt-sequence-number"]; seq != int64(i) {
			t.Fatalf("%s: x-opt-sequence-number %v", what, seq)
		}
		if wantBody := [][]byte{[]byte("e0"), large, []byte("e2")}[i]; !bytes.Equal(m.GetData(), wantBody) {
			t.Fatalf("%s: body of %d bytes, want the %d sent", what, len(m.GetData()), len(wantBody))
		}
	}
	for i, m := range receiveMessages(t, ctx, plain, 3) {
		if m.DeliveryAnnotations != nil {
			t.Fatalf("event %d to a receiver that did not ask: delivery annotations %v", i, m.DeliveryAnnotations)
		}
	}
	if again := partitionLastEnqueued(t, ctx, p, "0"); !again.equal(want) {
		t.Fatalf("partition 0 changed during the test: %s, then %s", want, again)
	}

	// The receiver waits at the end of the partition; a batch arrives with
	// the partition as it stands after it.
	from = time.Now()
	if err := sendN(ctx, p, "0", "live", 0, 2); err != nil { // one batch: appended at once
		t.Fatal(err)
	}
	want = partitionLastEnqueued(t, ctx, p, "0")
	got = receiveMessages(t, ctx, tracking, 2)
	until = time.Now()
	if want.Seq != 4 {
		t.Fatalf("partition 0 last enqueued: %s, want sequence 4", want)
	}
	for i, m := range got {
		checkDeliveryAnnotations(t, fmt.Sprintf("live event %d", i), m.DeliveryAnnotations, want, from, until)
	}
	if again := partitionLastEnqueued(t, ctx, p, "0"); !again.equal(want) {
		t.Fatalf("partition 0 changed during the test: %s, then %s", want, again)
	}

	// The Go SDK does not ask: its events carry no delivery annotations.
	pc, err := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup).NewPartitionClient("0",
		&azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	for i, e := range receive(t, ctx, pc, 5) {
		if da := e.RawAMQPMessage.DeliveryAnnotations; len(da) != 0 {
			t.Fatalf("event %d to the Go SDK: delivery annotations %v", i, da)
		}
	}
}

// TestLastEnqueuedCapabilityOffered: the attach reply offers the capability
// to a receiver that desires it, and only to that one.
func TestLastEnqueuedCapabilityOffered(t *testing.T) {
	srv := start(t, nil)
	r := dialRaw(t, srv, 0)
	for handle, desired := range [][]amqp.Symbol{
		{"com.microsoft:georeplication", runtimeMetric},
		{"com.microsoft:georeplication"},
		nil,
	} {
		r.send(&amqp.Attach{Name: fmt.Sprint("receiver-", handle), Handle: uint32(handle), Role: amqp.RoleReceiver,
			Source: &amqp.Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0"}, Target: &amqp.Target{Address: "raw"},
			DesiredCapabilities: desired})
		var reply *amqp.Attach
		r.until("the attach reply", func(p amqp.Performative) bool {
			reply, _ = p.(*amqp.Attach)
			return reply != nil
		})
		want := []amqp.Symbol(nil)
		if slices.Contains(desired, runtimeMetric) {
			want = []amqp.Symbol{runtimeMetric}
		}
		if reply.Source == nil || !slices.Equal(reply.OfferedCapabilities, want) {
			t.Errorf("desired %v: attach reply offers %v (source %v), want %v", desired, reply.OfferedCapabilities, reply.Source, want)
		}
	}
}
