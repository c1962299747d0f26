// Package localhub starts a local Event Hubs in this process and fills it
// with sample data: the embedded hub of `ehstream stream`, and the hub the
// benchmarks and tests read. It imports nothing of package testing, so the
// binary links it without test code.
package localhub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// Defaults of Config.
const (
	DefaultHub        = "telemetry"
	DefaultPartitions = 4
)

// Config says what hub to start; nil means defaults.
type Config struct {
	// DataDir keeps the partition logs; "" keeps them in memory.
	DataDir string
	// Hub is the hub's name; "" means DefaultHub.
	Hub string
	// Partitions is the hub's partition count; 0 means DefaultPartitions.
	Partitions int
	// Logger gets the emulator's logs; nil discards them.
	Logger *slog.Logger
}

// Hub is a local Event Hubs serving one hub on a free loopback port.
type Hub struct {
	Server     *emulator.Server
	Name       string
	Partitions int
}

// Start starts the local Event Hubs. Close stops it.
func Start(ctx context.Context, cfg *Config) (*Hub, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	h := &Hub{Name: cfg.Hub, Partitions: cfg.Partitions}
	if h.Name == "" {
		h.Name = DefaultHub
	}
	if h.Partitions == 0 {
		h.Partitions = DefaultPartitions
	}
	if h.Partitions < 0 || h.Partitions > emulator.MaxPartitions {
		return nil, fmt.Errorf("localhub: %d partitions: want 1 to %d", h.Partitions, emulator.MaxPartitions)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := emulator.Start(ctx, &emulator.Config{
		DataDir: cfg.DataDir,
		Hubs:    []emulator.HubConfig{{Name: h.Name, PartitionCount: h.Partitions}},
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	h.Server = srv
	return h, nil
}

// ConnectionString is the hub's connection string, with its EntityPath.
func (h *Hub) ConnectionString() string { return h.Server.ConnectionString(h.Name) }

// Close closes this process's pooled connections (package eventhubs) and
// stops the local Event Hubs.
func (h *Hub) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := eventhubs.CloseAll(ctx)
	return errors.Join(err, h.Server.Close())
}

// SendTelemetry sends n sample readings spread over 10 devices: JSON
// bodies, properties "device" and "kind", keyed by device, so that each
// device's readings go to one partition.
func (h *Hub) SendTelemetry(ctx context.Context, n int) error {
	return SendTelemetry(ctx, h.ConnectionString(), n)
}

// SendTelemetry is Hub.SendTelemetry for any hub, given its connection
// string with an EntityPath.
func SendTelemetry(ctx context.Context, connStr string, n int) error {
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	now := time.Now().UTC()
	const devices = 10
	for d := range devices {
		device := fmt.Sprintf("device-%02d", d)
		events := make([]*azeventhubs.EventData, 0, n/devices)
		for i := range n / devices {
			body := fmt.Appendf(nil, `{"device":%q,"time":%q,"temperature":%.1f,"humidity":%d}`,
				device, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 18+rand.Float64()*8, 30+rand.IntN(40))
			events = append(events, &azeventhubs.EventData{Body: body, Properties: map[string]any{"device": device, "kind": "reading"}})
		}
		if err := send(ctx, p, events, &azeventhubs.EventDataBatchOptions{PartitionKey: &device}); err != nil {
			return fmt.Errorf("sending device %s's readings: %w", device, err)
		}
	}
	return nil
}

// FillOptions says what Fill sends; nil means defaults.
type FillOptions struct {
	// Size is each event's body size in bytes; 0 means 100.
	Size int
	// Step sends the partitions' events in rounds of Step per partition
	// (a partition's events in one batch per round, as far as they fit);
	// 0 sends each partition's events in one round.
	Step int
	// Properties, when set, gives each event the property "part": its
	// partition's ID.
	Properties bool
	// Body, when set, gives the body of event i (from 0) of partition
	// part, so that events can differ (streambench's event times); Size is
	// then ignored. Nil sends Size bytes of 'x' in every event.
	Body func(part, i int) []byte
}

// Fill sends perPartition events to each of partitions partitions
// (IDs "0", "1", ...) of the hub of connStr, and returns once all are
// acknowledged.
func Fill(ctx context.Context, connStr string, partitions, perPartition int, opts *FillOptions) error {
	if opts == nil {
		opts = &FillOptions{}
	}
	size, step := opts.Size, opts.Step
	if size == 0 {
		size = 100
	}
	if step <= 0 {
		step = perPartition
	}
	if size < 0 {
		return fmt.Errorf("localhub: body size %d: want 0 or more bytes", size)
	}
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	body := bytes.Repeat([]byte("x"), size)
	for first := 0; first < perPartition; first += step {
		for part := range partitions {
			id := strconv.Itoa(part)
			var props map[string]any
			if opts.Properties {
				props = map[string]any{"part": id}
			}
			events := make([]*azeventhubs.EventData, min(step, perPartition-first))
			for i := range events {
				b := body
				if opts.Body != nil {
					b = opts.Body(part, first+i)
				}
				events[i] = &azeventhubs.EventData{Body: b, Properties: props}
			}
			if err := send(ctx, p, events, &azeventhubs.EventDataBatchOptions{PartitionID: &id}); err != nil {
				return fmt.Errorf("sending to partition %s: %w", id, err)
			}
		}
	}
	return nil
}

// send sends events in as few batches as fit.
func send(ctx context.Context, p *azeventhubs.ProducerClient, events []*azeventhubs.EventData, opts *azeventhubs.EventDataBatchOptions) error {
	for len(events) > 0 {
		batch, err := p.NewEventDataBatch(ctx, opts)
		if err != nil {
			return err
		}
		n := 0
		for ; n < len(events); n++ {
			if err := batch.AddEventData(events[n], nil); errors.Is(err, azeventhubs.ErrEventDataTooLarge) && n > 0 {
				break // full: send it and start another
			} else if err != nil {
				return err
			}
		}
		sctx, cancel := context.WithTimeout(ctx, eventhubs.DefaultOperationTimeout)
		err = p.SendEventDataBatch(sctx, batch, nil)
		cancel()
		if err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}
