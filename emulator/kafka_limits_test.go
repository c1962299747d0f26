package emulator_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaConnectionsCountTowardMaxConnections: Kafka connections count
// with AMQP's toward MaxConnections; one past it is closed at once, and
// once a connection ends a new one is served.
func TestKafkaConnectionsCountTowardMaxConnections(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", MaxConnections: 2,
		Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 1}}})
	ctx := testCtx(t, 30*time.Second)
	p := producer(t, srv, "orders") // an AMQP connection: one of the two
	if _, err := p.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatalf("AMQP: %v", err)
	}
	kafka := dialKafka(t, srv)
	apiVersions(t, kafka)

	over := dialKafka(t, srv)
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a Kafka connection past MaxConnections 2: read %v, want EOF (closed at once)", err)
	}
	if got := srv.Stats().ConnectionsRefused; got != 1 {
		t.Fatalf("%d connections counted refused, want 1", got)
	}

	kafka.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		again := dialKafka(t, srv)
		if apiVersionsAnswered(again) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Kafka connection served after one of the two ended")
		}
	}
}

func dialKafka(t *testing.T, srv *emulator.Server) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", srv.KafkaAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func apiVersions(t *testing.T, nc net.Conn) {
	t.Helper()
	if !apiVersionsAnswered(nc) {
		t.Fatal("a Kafka connection within MaxConnections: ApiVersions not answered")
	}
}

// apiVersionsAnswered sends ApiVersions v0 and reports whether an answer
// came.
func apiVersionsAnswered(nc net.Conn) bool {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		return false
	}
	var size [4]byte
	_, err := io.ReadFull(nc, size[:])
	return err == nil
}
