package emulator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// start runs an emulator for the test, on a free loopback port.
func start(t testing.TB, cfg *emulator.Config) *emulator.Server {
	t.Helper()
	if cfg == nil {
		cfg = &emulator.Config{}
	}
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
	return srv
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func producer(t testing.TB, srv *emulator.Server, hub string) *azeventhubs.ProducerClient {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(""), hub, nil)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func consumer(t testing.TB, srv *emulator.Server, hub, group string) *azeventhubs.ConsumerClient {
	t.Helper()
	c, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString(""), hub, group, nil)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// sendBatch sends events in one batch with the given batch options.
func sendBatch(t testing.TB, ctx context.Context, p *azeventhubs.ProducerClient, opts *azeventhubs.EventDataBatchOptions, events ...*azeventhubs.EventData) {
	t.Helper()
	batch, err := p.NewEventDataBatch(ctx, opts)
	if err != nil {
		t.Fatalf("new batch: %v", err)
	}
	for _, e := range events {
		if err := batch.AddEventData(e, nil); err != nil {
			t.Fatalf("add event: %v", err)
		}
	}
	if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
		t.Fatalf("send batch: %v", err)
	}
}

// receive reads exactly n events from a partition client, failing the test
// if they do not arrive before ctx ends.
func receive(t testing.TB, ctx context.Context, pc *azeventhubs.PartitionClient, n int) []*azeventhubs.ReceivedEventData {
	t.Helper()
	var out []*azeventhubs.ReceivedEventData
	for len(out) < n {
		evs, err := pc.ReceiveEvents(ctx, n-len(out), nil)
		if err != nil {
			t.Fatalf("receive: got %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
	}
	return out
}

// memCheckpoints is an in-memory CheckpointStore for the SDK's Processor.
type memCheckpoints struct {
	mu          sync.Mutex
	owners      map[string]azeventhubs.Ownership
	checkpoints map[string]azeventhubs.Checkpoint
	etag        int
}

func newMemCheckpoints() *memCheckpoints {
	return &memCheckpoints{owners: map[string]azeventhubs.Ownership{}, checkpoints: map[string]azeventhubs.Checkpoint{}}
}

func (m *memCheckpoints) ClaimOwnership(ctx context.Context, in []azeventhubs.Ownership, _ *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []azeventhubs.Ownership
	for _, o := range in {
		cur, exists := m.owners[o.PartitionID]
		if exists && (o.ETag == nil || cur.ETag == nil || *o.ETag != *cur.ETag) {
			continue
		}
		m.etag++
		tag := azcore.ETag(time.Now().String() + string(rune('a'+m.etag%26)))
		o.ETag = &tag
		o.LastModifiedTime = time.Now()
		m.owners[o.PartitionID] = o
		out = append(out, o)
	}
	return out, nil
}

func (m *memCheckpoints) ListCheckpoints(ctx context.Context, ns, hub, group string, _ *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []azeventhubs.Checkpoint
	for _, c := range m.checkpoints {
		out = append(out, c)
	}
	return out, nil
}

func (m *memCheckpoints) ListOwnership(ctx context.Context, ns, hub, group string, _ *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []azeventhubs.Ownership
	for _, o := range m.owners {
		out = append(out, o)
	}
	return out, nil
}

func (m *memCheckpoints) SetCheckpoint(ctx context.Context, c azeventhubs.Checkpoint, _ *azeventhubs.SetCheckpointOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints[c.PartitionID] = c
	return nil
}
