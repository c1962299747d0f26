package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ehstream/ehstream/internal/localhub"
)

// The embedded default of `ehstream stream`: a local Event Hubs in this
// process, with sample telemetry in hub "telemetry".
const (
	localHubName     = localhub.DefaultHub
	localHubShape    = "Endpoint=sb://localhost;SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true;EntityPath=" + localHubName
	localPartitions  = localhub.DefaultPartitions
	localSampleCount = 5000
)

// startLocalHub starts the local Event Hubs with its data in dir and sends
// a round of sample telemetry: 10 devices, JSON readings, keyed by device.
func startLocalHub(ctx context.Context, dir string, out io.Writer) (*localhub.Hub, error) {
	hub, err := localhub.Start(ctx, &localhub.Config{DataDir: dir})
	if err != nil {
		return nil, fmt.Errorf("starting the local Event Hubs in %s: %w", dir, err)
	}
	if err := hub.SendTelemetry(ctx, localSampleCount); err != nil {
		hub.Close()
		return nil, fmt.Errorf("sending sample telemetry: %w", err)
	}
	fmt.Fprintf(out, "no connection string: started a local Event Hubs (data in %s) and sent %d sample events to hub %q\n",
		dir, localSampleCount, localHubName)
	return hub, nil
}
