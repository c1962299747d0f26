package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// localHub is the embedded default of `ehstream stream`: a local Event Hubs
// in this process, with sample telemetry in hub "telemetry".
type localHub struct {
	srv     *emulator.Server
	connStr string
}

const (
	localHubName     = "telemetry"
	localPartitions  = 4
	localSampleCount = 5000
)

// startLocalHub starts the local Event Hubs with its data in dir and sends
// a round of sample telemetry: 10 devices, JSON readings, keyed by device.
func startLocalHub(ctx context.Context, dir string, out io.Writer) (*localHub, error) {
	srv, err := emulator.Start(ctx, &emulator.Config{
		DataDir: dir,
		Hubs:    []emulator.HubConfig{{Name: localHubName, PartitionCount: localPartitions}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the local Event Hubs in %s: %w", dir, err)
	}
	h := &localHub{srv: srv, connStr: srv.ConnectionString(localHubName)}
	if err := h.sendSamples(ctx, localSampleCount); err != nil {
		h.close()
		return nil, fmt.Errorf("sending sample telemetry: %w", err)
	}
	fmt.Fprintf(out, "no connection string: started a local Event Hubs (data in %s) and sent %d sample events to hub %q\n",
		dir, localSampleCount, localHubName)
	return h, nil
}

func (h *localHub) sendSamples(ctx context.Context, n int) error {
	p, err := azeventhubs.NewProducerClientFromConnectionString(h.connStr, "", nil)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	s := &sender{ctx: ctx, producer: p, hub: localHubName, timeout: eventhubs.DefaultOperationTimeout}
	now := time.Now().UTC()
	// Device by device: the sender sends a batch each time the key changes.
	for d := range 10 {
		device := fmt.Sprintf("device-%02d", d)
		for i := range n / 10 {
			body := fmt.Appendf(nil, `{"device":%q,"time":%q,"temperature":%.1f,"humidity":%d}`,
				device, now.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 18+rand.Float64()*8, 30+rand.IntN(40))
			ev := &azeventhubs.EventData{Body: body, Properties: map[string]any{"device": device, "kind": "reading"}}
			if err := s.add(d*n/10+i+1, ev, device); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

func (h *localHub) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eventhubs.CloseAll(ctx)
	h.srv.Close()
}
