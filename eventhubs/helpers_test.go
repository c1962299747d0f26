package eventhubs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// startEmulator runs an in-memory emulator with the given hubs on a free
// loopback port. Pooled connections are closed before it stops.
func startEmulator(t testing.TB, hubs ...emulator.HubConfig) *emulator.Server {
	t.Helper()
	return startWith(t, &emulator.Config{Hubs: hubs})
}

// startWith is startEmulator with a whole configuration.
func startWith(t testing.TB, cfg *emulator.Config) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close emulator: %v", err)
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eventhubs.CloseAll(ctx); err != nil {
			t.Logf("close pooled connections: %v", err)
		}
	})
	return srv
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testConf reads hub on srv with timeouts short enough for tests.
func testConf(srv *emulator.Server, hub string) *eventhubs.Conf {
	return eventhubs.NewConf(srv.ConnectionString(hub)).
		SetReceiverTimeout(5 * time.Second).
		SetOperationTimeout(10 * time.Second)
}

// fill sends n events to a partition, bodies "p<partition>-<i>" with
// i counting on from first, and returns once all are acknowledged.
func fill(t testing.TB, ctx context.Context, srv *emulator.Server, hub, partition string, first, n int) {
	t.Helper()
	if err := produce(ctx, srv, hub, partition, first, n); err != nil {
		t.Fatal(err)
	}
}

// produce is fill for goroutines other than the test's: it returns the
// error instead of failing the test.
func produce(ctx context.Context, srv *emulator.Server, hub, partition string, first, n int) error {
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(""), hub, nil)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer p.Close(context.Background())
	for i := 0; i < n; {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			return fmt.Errorf("new batch: %w", err)
		}
		for ; i < n; i++ {
			e := &azeventhubs.EventData{Body: []byte(body(partition, first+i)), Properties: map[string]any{"i": int64(first + i)}}
			if err := batch.AddEventData(e, nil); err != nil {
				break // full: send it and start another
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

// produceInRounds writes perPartition events to each partition in rounds
// of step events per partition, from a goroutine; the channel gets the
// outcome.
func produceInRounds(ctx context.Context, srv *emulator.Server, hub string, partitions, perPartition, step int) <-chan error {
	produced := make(chan error, 1)
	go func() {
		for first := 0; first < perPartition; first += step {
			for p := range partitions {
				if err := produce(ctx, srv, hub, fmt.Sprint(p), first, min(step, perPartition-first)); err != nil {
					produced <- err
					return
				}
			}
		}
		produced <- nil
	}()
	return produced
}

func body(partition string, i int) string { return fmt.Sprintf("p%s-%d", partition, i) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitWhileRunning is waitFor for a stream's output: it fails at once
// when the stream stops (done, as runSSC returns it) before cond holds.
func waitWhileRunning(t testing.TB, d time.Duration, what string, done <-chan error, cond func() bool) {
	t.Helper()
	waitFor(t, d, what, func() bool {
		select {
		case err := <-done:
			t.Fatalf("the stream stopped: %v", err)
		default:
		}
		return cond()
	})
}

func errCode(err error) eventhubs.ErrorCode {
	var e *eventhubs.Error
	if !errorsAs(err, &e) {
		return ""
	}
	return e.Code
}

// reader is another program's reader of a partition, exclusive (owner
// level 0) or not, reading one event per receive from the start.
type reader struct {
	pc *azeventhubs.PartitionClient
}

func newReader(t testing.TB, ctx context.Context, srv *emulator.Server, hub, partition string, exclusive bool) *reader {
	t.Helper()
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString(hub), "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close(context.Background()) })
	earliest := true
	opts := &azeventhubs.PartitionClientOptions{Prefetch: -1, StartPosition: azeventhubs.StartPosition{Earliest: &earliest}}
	if exclusive {
		opts.OwnerLevel = new(int64)
	}
	pc, err := cc.NewPartitionClient(partition, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	o := &reader{pc: pc}
	if err := o.receive(ctx); err != nil { // attaches: the partition is taken
		t.Fatal(err)
	}
	return o
}

// receive takes one event; it fails once the partition was taken away.
func (o *reader) receive(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	evs, err := o.pc.ReceiveEvents(rctx, 1, nil)
	if err == nil && len(evs) != 1 {
		err = fmt.Errorf("received %d events, want 1", len(evs))
	}
	return err
}

// fillBeforeAndAfter puts 5 events in each of the hub's partitions, then,
// once the clock has passed their enqueued times, 5 more: it returns the
// hub as it was before the second five, and a time between the two.
func fillBeforeAndAfter(t testing.TB, ctx context.Context, srv *emulator.Server, conf *eventhubs.Conf, partitions int) (*eventhubs.HubProperties, time.Time) {
	t.Helper()
	hub := conf.EventHubName()
	for p := range partitions {
		fill(t, ctx, srv, hub, fmt.Sprint(p), 0, 5)
	}
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the clock to pass the last enqueued time", func() bool {
		for _, b := range hp.Partitions {
			if !time.Now().After(b.LastEnqueued.Add(5 * time.Millisecond)) {
				return false
			}
		}
		return true
	})
	after := time.Now()
	for p := range partitions {
		fill(t, ctx, srv, hub, fmt.Sprint(p), 5, 5)
	}
	return hp, after
}
