package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
	amqpwire "github.com/ehstream/ehstream/emulator/amqp"
)

// fastRetries keeps the SDK's retries (4 s apart by default) short, so
// that recovery takes test time, not minutes.
var fastRetries = azeventhubs.RetryOptions{MaxRetries: 6, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: 400 * time.Millisecond}

func producerWith(t testing.TB, srv *emulator.Server, hub string, retry azeventhubs.RetryOptions) *azeventhubs.ProducerClient {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(""), hub, &azeventhubs.ProducerClientOptions{RetryOptions: retry})
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func consumerWith(t testing.TB, srv *emulator.Server, hub string, retry azeventhubs.RetryOptions) *azeventhubs.ConsumerClient {
	t.Helper()
	c, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString(""), hub, azeventhubs.DefaultConsumerGroup, &azeventhubs.ConsumerClientOptions{RetryOptions: retry})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func partitionClient(t testing.TB, c *azeventhubs.ConsumerClient, partition string, opts *azeventhubs.PartitionClientOptions) *azeventhubs.PartitionClient {
	t.Helper()
	if opts == nil {
		opts = &azeventhubs.PartitionClientOptions{}
	}
	if opts.StartPosition == (azeventhubs.StartPosition{}) {
		opts.StartPosition = azeventhubs.StartPosition{Earliest: to.Ptr(true)}
	}
	pc, err := c.NewPartitionClient(partition, opts)
	if err != nil {
		t.Fatalf("partition client: %v", err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	return pc
}

// sendN sends events "<prefix>-<first>" .. "<prefix>-<first+n-1>" to a
// partition, in as few batches as fit.
func sendN(ctx context.Context, p *azeventhubs.ProducerClient, partition, prefix string, first, n int) error {
	for i := first; i < first+n; {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			return err
		}
		for ; i < first+n; i++ {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte(fmt.Sprintf("%s-%d", prefix, i))}, nil); err != nil {
				break
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			return err
		}
	}
	return nil
}

func inject(t testing.TB, srv *emulator.Server, f emulator.Fault) emulator.ActiveFault {
	t.Helper()
	af, err := srv.InjectFault(f)
	if err != nil {
		t.Fatalf("inject %v: %v", f, err)
	}
	return af
}

// lastSeq is a partition's last sequence number (-1 when empty).
func lastSeq(t testing.TB, ctx context.Context, p *azeventhubs.ProducerClient, partition string) int64 {
	t.Helper()
	pp, err := p.GetPartitionProperties(ctx, partition, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pp.LastEnqueuedSequenceNumber
}

// checkSequence fails unless evs are sequence numbers first, first+1, ...
func checkSequence(t testing.TB, evs []*azeventhubs.ReceivedEventData, first int64) {
	t.Helper()
	for i, e := range evs {
		if e.SequenceNumber != first+int64(i) {
			t.Fatalf("event %d has sequence number %d, want %d: lost or repeated events", i, e.SequenceNumber, first+int64(i))
		}
	}
}

// The SDK retries com.microsoft:server-busy: a send during a short busy
// fault succeeds once it ends, and is stored once; one that outlasts the
// retries fails with that condition, and stores nothing.
func TestFaultServerBusy(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)

	t.Run("retried until it ends", func(t *testing.T) {
		p := producerWith(t, srv, "eh1", fastRetries)
		if err := sendN(ctx, p, "0", "warm", 0, 1); err != nil { // the link is attached
			t.Fatal(err)
		}
		before := lastSeq(t, ctx, p, "0")
		const busy = 600 * time.Millisecond
		began := time.Now()
		af := inject(t, srv, emulator.Fault{Kind: emulator.FaultServerBusy, Duration: busy})
		if err := sendN(ctx, p, "0", "busy", 0, 3); err != nil {
			t.Fatalf("send during a %s server-busy fault, with retries for about 2s: %v", busy, err)
		}
		took := time.Since(began)
		if took < busy {
			t.Fatalf("the send succeeded after %s, within the %s busy fault", took, busy)
		}
		if got := lastSeq(t, ctx, p, "0"); got != before+3 {
			t.Fatalf("partition 0 ends at %d, want %d: the retried send stored its 3 events %d times", got, before+3, (got-before)/3)
		}
		st := srv.Stats().Faults
		if st.SendsRejected < 1 || st.Injected[emulator.FaultServerBusy] != 1 {
			t.Fatalf("stats %+v: want at least one send rejected and one server-busy fault", st)
		}
		t.Logf("send took %s through a %s busy fault (fault %d refused %d sends)", took.Round(time.Millisecond), busy, af.ID, st.SendsRejected)
	})

	t.Run("outlasting the retries", func(t *testing.T) {
		p := producerWith(t, srv, "eh1", azeventhubs.RetryOptions{MaxRetries: 2, RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond})
		if err := sendN(ctx, p, "1", "warm", 0, 1); err != nil {
			t.Fatal(err)
		}
		before := lastSeq(t, ctx, p, "1")
		af := inject(t, srv, emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "EH1", Partition: "1"}) // until removed
		err := sendN(ctx, p, "1", "refused", 0, 1)
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Condition != "com.microsoft:server-busy" {
			t.Fatalf("send to a busy partition after 2 retries: %v (%T), want an *amqp.Error with com.microsoft:server-busy", err, err)
		}
		// Another partition is not busy.
		if err := sendN(ctx, p, "0", "other", 0, 1); err != nil {
			t.Fatalf("send to partition 0 while only partition 1 is busy: %v", err)
		}
		if !srv.RemoveFault(af.ID) {
			t.Fatal("RemoveFault: the fault was not in effect")
		}
		if err := sendN(ctx, p, "1", "after", 0, 1); err != nil {
			t.Fatalf("send after the fault was removed: %v", err)
		}
		if got := lastSeq(t, ctx, p, "1"); got != before+1 {
			t.Fatalf("partition 1 ends at %d, want %d: a refused send was stored", got, before+1)
		}
	})
}

// A receiver detached with amqp:link:detach-forced mid-read gets a new link
// from the SDK where the old one stopped: every event once, in order. Any
// other condition reaches the SDK as it would from the service.
func TestFaultDetachReceivers(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")
	const n = 1500
	if err := sendN(ctx, p, "0", "e", 0, n); err != nil {
		t.Fatal(err)
	}
	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)

	t.Run("link recovery", func(t *testing.T) {
		pc := partitionClient(t, c, "0", nil) // the default prefetch, 300
		got := receive(t, ctx, pc, 100)
		links := srv.Stats().ConsumerLinks
		af := inject(t, srv, emulator.Fault{Kind: emulator.FaultDetachReceivers, Hub: "eh1", Partition: "0"})
		if af.Hits != 1 || af.Fault.Condition != emulator.DefaultDetachCondition {
			t.Fatalf("detach-receivers fault: %+v, want 1 link detached with %s", af, emulator.DefaultDetachCondition)
		}
		got = append(got, receive(t, ctx, pc, n-100)...)
		checkSequence(t, got, 0)
		for i, e := range got {
			if want := fmt.Sprintf("e-%d", i); string(e.Body) != want {
				t.Fatalf("event %d has body %q, want %q", i, e.Body, want)
			}
		}
		if st := srv.Stats(); st.ConsumerLinks <= links || st.Faults.ReceiversDetached != 1 {
			t.Fatalf("after the detach: %d consumer links (%d before), %d detached; want a new link and 1 detached", st.ConsumerLinks, links, st.Faults.ReceiversDetached)
		}
	})

	t.Run("amqp:link:stolen is ownershiplost", func(t *testing.T) {
		pc := partitionClient(t, c, "1", &azeventhubs.PartitionClientOptions{Prefetch: -1})
		if err := sendN(ctx, p, "1", "s", 0, 1); err != nil {
			t.Fatal(err)
		}
		receive(t, ctx, pc, 1)
		inject(t, srv, emulator.Fault{Kind: emulator.FaultDetachReceivers, Hub: "eh1", Condition: "amqp:link:stolen"})
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := pc.ReceiveEvents(rctx, 10, nil)
		var sdkErr *azeventhubs.Error
		if !errors.As(err, &sdkErr) || sdkErr.Code != azeventhubs.ErrorCodeOwnershipLost {
			t.Fatalf("receive after a detach with amqp:link:stolen: %v, want an *azeventhubs.Error with code %s", err, azeventhubs.ErrorCodeOwnershipLost)
		}
	})
}

// Dropped connections end with a TCP reset, no close performative; the
// SDK's producer and consumer reconnect and go on.
func TestFaultDropConnections(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	raw := dialRaw(t, srv, 0)
	p := producerWith(t, srv, "eh1", fastRetries)
	c := consumerWith(t, srv, "eh1", fastRetries)
	pc := partitionClient(t, c, "0", nil)
	if err := sendN(ctx, p, "0", "before", 0, 10); err != nil {
		t.Fatal(err)
	}
	got := receive(t, ctx, pc, 10)
	conns := srv.Stats().Connections

	af := inject(t, srv, emulator.Fault{Kind: emulator.FaultDropConnections})
	if af.Hits < 3 { // the raw client, the producer's, the consumer's
		t.Fatalf("drop-connections dropped %d connections, want at least 3", af.Hits)
	}
	// The raw client sees a reset, not a close.
	for {
		perf, err := raw.read(10 * time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("raw client: the connection ended with %v, want a reset (ECONNRESET)", err)
			}
			break
		}
		if _, ok := perf.(*amqpwire.Close); ok {
			t.Fatal("raw client: the emulator sent close; a dropped connection ends without one")
		}
	}

	began := time.Now()
	if err := sendN(ctx, p, "0", "after", 0, 10); err != nil {
		t.Fatalf("send after the connections were dropped: %v", err)
	}
	got = append(got, receive(t, ctx, pc, 10)...)
	t.Logf("producer and consumer recovered in %s", time.Since(began).Round(time.Millisecond))
	checkSequence(t, got, 0)
	for i, e := range got[10:] {
		if want := fmt.Sprintf("after-%d", i); string(e.Body) != want {
			t.Fatalf("after the drop, event %d has body %q, want %q", i, e.Body, want)
		}
	}
	if st := srv.Stats(); st.Connections < conns+2 || st.Faults.ConnectionsDropped != af.Hits {
		t.Fatalf("stats after the drop: %d connections (%d before), %d dropped (fault says %d)", st.Connections, conns, st.Faults.ConnectionsDropped, af.Hits)
	}
}

// Under delay-frames every operation still works and takes at least the
// delay; a fault with a duration ends by itself.
func TestFaultDelayFrames(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")
	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	if err := sendN(ctx, p, "0", "warm", 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatal(err)
	}

	const delay = 300 * time.Millisecond
	af := inject(t, srv, emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: delay}) // until removed
	measure := func(what string, op func() error) {
		t.Helper()
		began := time.Now()
		if err := op(); err != nil {
			t.Fatalf("%s under a %s delay: %v", what, delay, err)
		}
		took := time.Since(began)
		if took < delay {
			t.Fatalf("%s took %s under a %s delay", what, took, delay)
		}
		t.Logf("%s took %s under a %s delay", what, took.Round(time.Millisecond), delay)
	}
	measure("a send", func() error { return sendN(ctx, p, "0", "delayed", 0, 5) })
	measure("partition properties", func() error { _, err := p.GetPartitionProperties(ctx, "0", nil); return err })
	pc := partitionClient(t, c, "0", nil)
	measure("a new receiver's first events", func() error {
		evs := receive(t, ctx, pc, 6)
		if string(evs[5].Body) != "delayed-4" {
			return fmt.Errorf("event 5 is %q", evs[5].Body)
		}
		return nil
	})
	if active := srv.Faults(); len(active) != 1 || active[0].ID != af.ID || active[0].Hits == 0 {
		t.Fatalf("Faults() = %+v, want fault %d with hits", active, af.ID)
	}
	if n := srv.ClearFaults(); n != 1 {
		t.Fatalf("ClearFaults removed %d, want 1", n)
	}

	// A fault with a duration ends by itself.
	began := time.Now()
	inject(t, srv, emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: 50 * time.Millisecond, Duration: 500 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Faults()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a delay-frames fault of 500ms still in effect after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(began); took < 500*time.Millisecond {
		t.Fatalf("a 500ms fault ended after %s", took)
	}
	if err := sendN(ctx, p, "0", "after", 0, 1); err != nil {
		t.Fatal(err)
	}
}

// A paused partition delivers nothing, though its receiver has credit and
// events wait; when the pause ends, all of them arrive on the same link.
// Other partitions and sends go on meanwhile.
func TestFaultPausePartition(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	p := producer(t, srv, "eh1")
	c := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	manual := &azeventhubs.PartitionClientOptions{Prefetch: -1} // credit only while asked
	pc0, pc1 := partitionClient(t, c, "0", manual), partitionClient(t, c, "1", manual)
	for _, id := range []string{"0", "1"} {
		if err := sendN(ctx, p, id, "first", 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, ctx, pc0, 1) // both links attached
	receive(t, ctx, pc1, 1)
	before := srv.Stats()

	const pause = 1500 * time.Millisecond
	began := time.Now()
	af := inject(t, srv, emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "eh1", Partition: "1", Duration: pause})
	for _, id := range []string{"0", "1"} {
		if err := sendN(ctx, p, id, "during", 0, 5); err != nil {
			t.Fatalf("send to partition %s during the pause: %v", id, err)
		}
	}
	if evs := receive(t, ctx, pc0, 5); string(evs[4].Body) != "during-4" {
		t.Fatalf("partition 0, not paused: got %q", evs[4].Body)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	evs, err := pc1.ReceiveEvents(short, 5, nil)
	cancel()
	if len(evs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("paused partition 1 delivered %d events (%v)", len(evs), err)
	}
	evs = receive(t, ctx, pc1, 5)
	took := time.Since(began)
	checkSequence(t, evs, 1)
	if took < pause {
		t.Fatalf("paused partition 1 delivered after %s, within the %s pause", took, pause)
	}
	after := srv.Stats()
	if after.ConsumerLinks != before.ConsumerLinks {
		t.Fatalf("%d consumer links attached during the pause: the links should have stayed", after.ConsumerLinks-before.ConsumerLinks)
	}
	if len(srv.Faults()) != 0 {
		t.Fatalf("the pause is still listed after it ended: %+v", srv.Faults())
	}
	t.Logf("partition 1 delivered %s after the %s pause (fault %d) began", took.Round(time.Millisecond), pause, af.ID)
}

// Bad faults are refused with an error naming the bad value, and change
// nothing.
func TestFaultValidation(t *testing.T) {
	srv := start(t, nil)
	cases := []struct {
		f    emulator.Fault
		says string
	}{
		{emulator.Fault{}, "kind is missing"},
		{emulator.Fault{Kind: "explode"}, `"explode" is unknown`},
		{emulator.Fault{Kind: emulator.FaultServerBusy, Duration: -time.Second}, "duration -1s is negative"},
		{emulator.Fault{Kind: emulator.FaultDelayFrames}, "delay is missing"},
		{emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: -time.Millisecond}, "delay -1ms is negative"},
		{emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: 2 * time.Minute}, "delay 2m0s is over the limit"},
		{emulator.Fault{Kind: emulator.FaultDelayFrames, Delay: time.Millisecond, Hub: "eh1"}, `hub "eh1"`},
		{emulator.Fault{Kind: emulator.FaultDropConnections, Duration: time.Second}, "takes no duration (got 1s)"},
		{emulator.Fault{Kind: emulator.FaultDetachReceivers, Delay: time.Second}, "takes no delay (got 1s)"},
		{emulator.Fault{Kind: emulator.FaultPausePartition, Condition: "x:y"}, `takes no condition (got "x:y")`},
		{emulator.Fault{Kind: emulator.FaultDetachReceivers, Condition: "two words"}, `condition "two words"`},
		{emulator.Fault{Kind: emulator.FaultPausePartition, Partition: "1"}, `partition "1" needs a hub`},
		{emulator.Fault{Kind: emulator.FaultPausePartition, Hub: "nope"}, `hub "nope" is not served by the emulator (it serves eh1)`},
		{emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "eh1", Partition: "7"}, `hub eh1 has no partition "7"; its partitions are 0 to 1`},
		{emulator.Fault{Kind: emulator.FaultDetachReceivers, Hub: "eh1", Partition: "01"}, `no partition "01"`},
	}
	for _, c := range cases {
		_, err := srv.InjectFault(c.f)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("InjectFault(%+v): %v, want an error saying %q", c.f, err, c.says)
		}
	}
	// A batch with one bad fault injects none.
	_, err := srv.InjectFaults([]emulator.Fault{{Kind: emulator.FaultServerBusy}, {Kind: emulator.FaultPausePartition, Hub: "eh1", Partition: "9"}})
	if err == nil || !strings.Contains(err.Error(), `faults[1]: `) {
		t.Errorf("InjectFaults with a bad second fault: %v, want an error naming faults[1]", err)
	}
	if st := srv.Stats().Faults; len(srv.Faults()) != 0 || len(st.Injected) != 0 {
		t.Errorf("after refused faults: active %+v, injected %v; want nothing", srv.Faults(), st.Injected)
	}

	parseCases := []struct {
		in, says string
	}{
		{``, "no fault"},
		{`{"kind":`, "not valid JSON"},
		{`{kind: "x"}`, "not valid JSON"},
		{`[]`, "empty array"},
		{`42`, "a fault is a JSON object"},
		{`{"kind":"server-busy","duration":"5 parsecs"}`, `"5 parsecs" is not a Go duration`},
		{`{"kind":"server-busy","duration":5}`, `"duration": 5 is not a Go duration string`},
		{`{"kind":"server-busy","durration":"5s"}`, `field "durration" is unknown`},
		{`{"kind":"nap"}`, `kind "nap" is unknown`},
		{`[{"kind":"drop-connections"},{"kind":"pause-partition","duration":"-3s"}]`, "item 1 of the array: fault pause-partition: duration -3s is negative"},
		{`{"kind":"drop-connections"} {"kind":"drop-connections"}`, "more than one JSON value"},
	}
	for _, c := range parseCases {
		_, err := emulator.ParseFaults([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ParseFaults(%s): %v, want an error saying %q", c.in, err, c.says)
		}
	}
	fs, err := emulator.ParseFaults([]byte(`[{"kind":"delay-frames","delay":"200ms","duration":"10s"},
		{"kind":"detach-receivers","hub":"eh1","partition":"0","condition":"amqp:link:detach-forced"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []emulator.Fault{{Kind: emulator.FaultDelayFrames, Delay: 200 * time.Millisecond, Duration: 10 * time.Second},
		{Kind: emulator.FaultDetachReceivers, Hub: "eh1", Partition: "0", Condition: "amqp:link:detach-forced"}}
	if fmt.Sprint(fs) != fmt.Sprint(want) {
		t.Errorf("ParseFaults = %v, want %v", fs, want)
	}
	if s := fs[0].String(); s != `{"kind":"delay-frames","duration":"10s","delay":"200ms"}` {
		t.Errorf("String() = %s", s)
	}
}

// LoadFaultsFile parses a file's faults, and names the file when it is
// missing or bad.
func TestLoadFaultsFile(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`{"kind":"server-busy","hub":"eh1"}`), 0o600)
	os.WriteFile(bad, []byte(`{"kind":"nap"}`), 0o600)
	fs, err := emulator.LoadFaultsFile(good)
	if err != nil || len(fs) != 1 || fs[0].Kind != emulator.FaultServerBusy || fs[0].Hub != "eh1" {
		t.Errorf("LoadFaultsFile(good) = %v, %v; want one server-busy fault of eh1", fs, err)
	}
	for _, c := range []struct{ path, says string }{{bad, `kind "nap" is unknown`}, {filepath.Join(dir, "missing.json"), "no such file"}} {
		if _, err := emulator.LoadFaultsFile(c.path); err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("LoadFaultsFile(%s) = %v, want an error naming it and saying %q", c.path, err, c.says)
		}
	}
}
