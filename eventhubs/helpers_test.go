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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: hubs})
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
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(""), hub, nil)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close(context.Background())
	for i := 0; i < n; {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			t.Fatalf("new batch: %v", err)
		}
		for ; i < n; i++ {
			e := &azeventhubs.EventData{Body: []byte(body(partition, first+i)), Properties: map[string]any{"i": int64(first + i)}}
			if err := batch.AddEventData(e, nil); err != nil {
				break // full: send it and start another
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
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

func errCode(err error) eventhubs.ErrorCode {
	var e *eventhubs.Error
	if !errorsAs(err, &e) {
		return ""
	}
	return e.Code
}
