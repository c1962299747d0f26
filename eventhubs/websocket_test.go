package eventhubs_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// emulatorString is a development emulator's connection string for hub at
// addr.
func emulatorString(addr, hub string) string {
	return "Endpoint=sb://" + addr + ";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=" + hub
}

// TestWebSockets: with SetWebSockets, a producer sends and a read reads
// every event over the emulator's WebSocket listener, whose port speaks no
// AMQP over TCP; SetCustomEndpoint sends the connections there from a
// namespace whose own port is closed, over WebSockets and over TCP.
func TestWebSockets(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	srv, err := emulator.Start(ctx, &emulator.Config{WebSocketListen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Hubs: []emulator.HubConfig{{Name: "ws", PartitionCount: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()) })
	conf := eventhubs.NewConf(emulatorString(srv.WebSocketAddr(), "ws")).SetWebSockets(true).SetOperationTimeout(20 * time.Second)

	const perPartition = 50
	sendOver(t, ctx, conf, perPartition)
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []eventhubs.OffsetRange
	for _, b := range hp.Partitions {
		if b.End != perPartition {
			t.Fatalf("partition %s ends at %d, want %d", b.PartitionID, b.End, perPartition)
		}
		ranges = append(ranges, eventhubs.OffsetRange{Name: "ws", PartitionID: b.PartitionID, FromSeqNo: 0, UntilSeqNo: b.End})
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		t.Fatal(err)
	}
	events, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2*perPartition {
		t.Fatalf("read %d events over WebSockets, want %d", len(events), 2*perPartition)
	}
	for _, e := range events {
		if want := fmt.Sprintf("ws-%s-%d", e.PartitionID, e.SequenceNumber); string(e.Body) != want {
			t.Fatalf("event %s/%d has body %q, want %q", e.PartitionID, e.SequenceNumber, e.Body, want)
		}
	}

	if _, err := eventhubs.DescribeHub(ctx, eventhubs.NewConf(emulatorString(srv.WebSocketAddr(), "ws")).SetOperationTimeout(time.Second)); err == nil {
		t.Fatalf("AMQP over TCP to the WebSocket port answered: the test proves nothing")
	}

	closed := closedPort(t)
	for _, tc := range []struct {
		name string
		conf *eventhubs.Conf
	}{
		{"WebSockets", eventhubs.NewConf(emulatorString(closed, "ws")).SetWebSockets(true).SetCustomEndpoint(srv.WebSocketAddr())},
		{"TCP", eventhubs.NewConf(emulatorString(closed, "ws")).SetCustomEndpoint(srv.Addr())},
	} {
		hp, err := eventhubs.DescribeHub(ctx, tc.conf.SetOperationTimeout(20*time.Second))
		if err != nil || hp.Partitions[0].End != perPartition {
			t.Errorf("through the custom endpoint over %s: %+v, %v", tc.name, hp, err)
		}
	}
}

// sendOver sends n events to each of conf's hub's two partitions with
// NewProducerClient, bodies "HUB-PARTITION-i".
func sendOver(t *testing.T, ctx context.Context, conf *eventhubs.Conf, n int) {
	t.Helper()
	p, err := conf.NewProducerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for _, id := range []string{"0", "1"} {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			t.Fatalf("a batch over WebSockets: %v", err)
		}
		for i := range n {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "%s-%s-%d", conf.EventHubName(), id, i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebSocketUpgradeRefused: an endpoint that answers the upgrade with
// 404 (a web server, not Event Hubs) fails at once, naming the status.
func TestWebSocketUpgradeRefused(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	addr := strings.TrimPrefix(web.URL, "http://")
	conf := eventhubs.NewConf(emulatorString(addr, "eh1")).SetWebSockets(true).SetOperationTimeout(30 * time.Second)
	err := failsAtOnce(t, "DescribeHub", func(ctx context.Context) error {
		_, err := eventhubs.DescribeHub(ctx, conf)
		return err
	})
	if want := "refused the WebSocket upgrade with 404 Not Found"; !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), "ws://"+addr+"/$servicebus/websocket") {
		t.Errorf("%v; want it to say %q and name the URL", err, want)
	}
}
