package emulatorhttp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	"github.com/twmb/franz-go/pkg/kgo"
)

const kafkaEvents, kafkaEventSize = 20, 50

// kafkaTraffic starts an emulator serving Kafka and HTTP; a kgo client
// produces kafkaEvents events of kafkaEventSize bytes to partition 1 of
// orders and fetches them back. The client stays connected.
func kafkaTraffic(t *testing.T, ctx context.Context) (*emulator.Server, string) {
	t.Helper()
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 2}}})
	base := serve(t, srv, emulatorhttp.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()), kgo.DefaultProduceTopic("orders"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // kgo prefers snappy, which the service refuses
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {1: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for i := range kafkaEvents {
		r := &kgo.Record{Partition: 1, Value: fmt.Appendf(nil, "%0*d", kafkaEventSize, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("kgo produce: %v", err)
		}
	}
	for got := 0; got < kafkaEvents; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kgo fetched %d of %d: %v", got, kafkaEvents, ctx.Err())
		}
		got += len(fs.Records())
	}
	return srv, base
}

// TestKafkaMetrics: /metrics counts the Kafka clients' connections,
// requests and bytes, and their events where AMQP events count.
func TestKafkaMetrics(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	_, base := kafkaTraffic(t, ctx)
	m := scrape(t, base)
	if got := m.value(t, emulatorhttp.MetricEventsIn, "hub", "orders", "partition", "1"); got != kafkaEvents {
		t.Errorf("events in = %v, want %d", got, kafkaEvents)
	}
	if got := m.value(t, emulatorhttp.MetricEventsInBytes, "hub", "orders", "partition", "1"); got != kafkaEvents*kafkaEventSize {
		t.Errorf("bytes in = %v, want %d", got, kafkaEvents*kafkaEventSize)
	}
	out := m.value(t, emulatorhttp.MetricEventsOut, "hub", "orders", "partition", "1")
	if outBytes := m.value(t, emulatorhttp.MetricEventsOutBytes, "hub", "orders", "partition", "1"); out < kafkaEvents || outBytes != out*kafkaEventSize {
		t.Errorf("events out = %v, bytes out = %v; want at least %d events of %d bytes", out, outBytes, kafkaEvents, kafkaEventSize)
	}
	if got := m.value(t, emulatorhttp.MetricKafkaConnections); got < 1 {
		t.Errorf("Kafka connections open = %v with a client connected", got)
	}
	if got := m.value(t, emulatorhttp.MetricKafkaConnectionsAccepted); got < m.value(t, emulatorhttp.MetricKafkaConnections) {
		t.Errorf("Kafka connections accepted = %v, fewer than open", got)
	}
	for api, least := range map[string]float64{"ApiVersions": 1, "Metadata": 1, "Produce": kafkaEvents, "Fetch": 1} {
		if got := m.value(t, emulatorhttp.MetricKafkaRequests, "api", api); got < least {
			t.Errorf("Kafka %s requests = %v, want at least %v", api, got, least)
		}
	}
	if got := m.value(t, emulatorhttp.MetricKafkaReceivedBytes); got < kafkaEvents*kafkaEventSize {
		t.Errorf("Kafka bytes received = %v, less than the values produced", got)
	}
	if got := m.value(t, emulatorhttp.MetricKafkaSentBytes); got < kafkaEvents*kafkaEventSize {
		t.Errorf("Kafka bytes sent = %v, less than the values fetched", got)
	}

	// Without Kafka there are no Kafka series.
	plain := scrape(t, serve(t, start(t, &emulator.Config{}), emulatorhttp.Options{}))
	if f := plain[emulatorhttp.MetricKafkaConnections]; f != nil {
		t.Errorf("an emulator without Kafka has %s", emulatorhttp.MetricKafkaConnections)
	}
}
