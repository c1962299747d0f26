package emulatorhttp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
)

// Prometheus's own linter finds no problem in the emulator's /metrics,
// with every family in it: events in and out, links, fsyncs and faults.
func TestMetricsLint(t *testing.T) {
	srv := start(t, &emulator.Config{DataDir: t.TempDir(), Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 2}}})
	base := serve(t, srv, emulatorhttp.Options{Faults: true})
	ctx := testCtx(t, 60*time.Second)
	sendEvents(t, ctx, producer(t, srv, "orders"), "1", 5, 10)
	pc, err := consumer(t, srv, "orders", azeventhubs.DefaultConsumerGroup).NewPartitionClient("1",
		&azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	receive(t, ctx, pc, 5)
	if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "orders", Partition: "0", Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, base+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	for _, name := range []string{emulatorhttp.MetricEventsIn, emulatorhttp.MetricEventsOut, emulatorhttp.MetricFsyncSeconds, emulatorhttp.MetricFaultsInjected, emulatorhttp.MetricLinks} {
		if !bytes.Contains(body, []byte("\n"+name)) {
			t.Errorf("/metrics has no %s to lint", name)
		}
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
