package emulatorhttp_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/buildinfo"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	dto "github.com/prometheus/client_model/go"
)

// TestMetrics drives the emulator with the official Go SDK and checks what
// /metrics says against what was done: events and body bytes in and out
// of each partition, the connections and links open, fsyncs of a log on
// disk, and faults.
func TestMetrics(t *testing.T) {
	srv := start(t, &emulator.Config{DataDir: t.TempDir(),
		Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 3, ConsumerGroups: []string{"audit"}}}})
	base := serve(t, srv, emulatorhttp.Options{Faults: true})
	ctx := testCtx(t, 60*time.Second)

	m := scrape(t, base)
	checkFamilies(t, m)
	if v := m.value(t, emulatorhttp.MetricConnections); v != 0 {
		t.Fatalf("connections before any client: %v", v)
	}
	fsyncsBefore := histogram(t, m, emulatorhttp.MetricFsyncSeconds).GetSampleCount()

	const n, size = 25, 300 // bodies over 255 bytes are encoded with a 4-byte length
	prod := producer(t, srv, "orders")
	sendEvents(t, ctx, prod, "1", n, size)
	sendEvents(t, ctx, prod, "2", 1, 7)
	cons := consumer(t, srv, "orders", "audit")
	pc, err := cons.NewPartitionClient("1", &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}, OwnerLevel: to.Ptr(int64(4))})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	for _, e := range receive(t, ctx, pc, n) {
		if len(e.Body) != size {
			t.Fatalf("event %d has %d bytes, want %d", e.SequenceNumber, len(e.Body), size)
		}
	}

	m = scrape(t, base)
	checkFamilies(t, m)
	for _, c := range []struct {
		name, partition string
		want            float64
	}{
		{emulatorhttp.MetricEventsIn, "1", n},
		{emulatorhttp.MetricEventsInBytes, "1", n * size},
		{emulatorhttp.MetricEventsOut, "1", n},
		{emulatorhttp.MetricEventsOutBytes, "1", n * size},
		{emulatorhttp.MetricEventsIn, "2", 1},
		{emulatorhttp.MetricEventsInBytes, "2", 7},
		{emulatorhttp.MetricEventsOut, "2", 0},
		{emulatorhttp.MetricEventsOutBytes, "2", 0},
		{emulatorhttp.MetricEventsIn, "0", 0},
		{emulatorhttp.MetricEventsOut, "0", 0},
		{emulatorhttp.MetricPartitionFirstSeq, "1", 0},
		{emulatorhttp.MetricPartitionLastSeq, "1", n - 1},
		{emulatorhttp.MetricPartitionLastSeq, "0", -1},
	} {
		if got := m.value(t, c.name, "hub", "orders", "partition", c.partition); got != c.want {
			t.Errorf("%s{hub=orders,partition=%s} = %v, want %v", c.name, c.partition, got, c.want)
		}
	}
	// On disk: a segment header, and each record's header and encoding
	// beside its body.
	if got := m.value(t, emulatorhttp.MetricPartitionBytes, "hub", "orders", "partition", "1"); got < n*size {
		t.Errorf("partition 1 takes %v bytes on disk, less than the %d of its bodies", got, n*size)
	}

	// One connection for each client; the producer's link to partition 1
	// and 2 (one sender link each), the consumer's receiver. Whatever $cbs
	// and $management links the SDK keeps, the gauges say what the
	// emulator counts as open.
	if got := m.value(t, emulatorhttp.MetricConnections); got != 2 {
		t.Errorf("connections = %v with a producer and a consumer client, want 2", got)
	}
	if got := m.value(t, emulatorhttp.MetricLinks, "kind", "sender"); got != 2 {
		t.Errorf("sender links = %v after sending to two partitions, want 2", got)
	}
	if got := m.value(t, emulatorhttp.MetricLinks, "kind", "receiver"); got != 1 {
		t.Errorf("receiver links = %v with one partition client, want 1", got)
	}
	st := srv.Stats()
	for _, k := range emulator.LinkKinds {
		if got := m.value(t, emulatorhttp.MetricLinks, "kind", string(k)); got != float64(st.OpenLinks[k]) {
			t.Errorf("links{kind=%s} = %v, Stats says %d", k, got, st.OpenLinks[k])
		}
	}
	// The SDK closes its $cbs and $management links once it has its
	// answer; a client that keeps them open has them counted.
	rpc, err := goamqp.Dial(ctx, "amqp://"+srv.Addr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	sess, err := rpc.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"$management", "$cbs", "$cbs"} {
		if _, err := sess.NewSender(ctx, node, nil); err != nil {
			t.Fatalf("sender to %s: %v", node, err)
		}
		if _, err := sess.NewReceiver(ctx, node, &goamqp.ReceiverOptions{TargetAddress: "reply-" + node}); err != nil {
			t.Fatalf("receiver from %s: %v", node, err)
		}
	}
	m = scrape(t, base)
	for kind, want := range map[string]float64{"sender": 2, "receiver": 1, "management": 2, "cbs": 4} {
		if got := m.value(t, emulatorhttp.MetricLinks, "kind", kind); got != want {
			t.Errorf("links{kind=%s} = %v, want %v", kind, got, want)
		}
	}
	if got := m.value(t, emulatorhttp.MetricConnections); got != 3 {
		t.Errorf("connections = %v with the SDK's two and an AMQP client, want 3", got)
	}
	rpc.Close()
	if got := m.value(t, emulatorhttp.MetricConnectionsAccepted); got < 2 {
		t.Errorf("connections accepted = %v, want at least 2", got)
	}

	// Fsyncs: every send was synced before it was acknowledged.
	h := histogram(t, m, emulatorhttp.MetricFsyncSeconds)
	if h.GetSampleCount() < fsyncsBefore+2 {
		t.Errorf("fsync histogram: %d observations after two acknowledged sends, %d before", h.GetSampleCount(), fsyncsBefore)
	}
	if h.GetSampleSum() <= 0 {
		t.Errorf("fsync histogram: sum %v", h.GetSampleSum())
	}
	checkBuckets(t, h)

	// Faults: counted by kind when injected, and by what they hit.
	if got := m.value(t, emulatorhttp.MetricFaultsInjected, "kind", "detach-receivers"); got != 0 {
		t.Fatalf("faults injected before any: %v", got)
	}
	resp, err := http.Post(base+"/faults", "application/json", strings.NewReader(`{"kind":"detach-receivers","hub":"orders","partition":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /faults: %s", resp.Status)
	}
	if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultServerBusy, Hub: "orders", Partition: "0", Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, base)
	for _, c := range []struct {
		name, kind string
		want       float64
	}{
		{emulatorhttp.MetricFaultsInjected, "detach-receivers", 1},
		{emulatorhttp.MetricFaultHits, "detach-receivers", 1}, // the one reader of partition 1
		{emulatorhttp.MetricFaultsInjected, "server-busy", 1},
		{emulatorhttp.MetricFaultHits, "server-busy", 0}, // nothing sent to partition 0 yet
		{emulatorhttp.MetricFaultsInjected, "drop-connections", 0},
	} {
		if got := m.value(t, c.name, "kind", c.kind); got != c.want {
			t.Errorf("%s{kind=%s} = %v, want %v", c.name, c.kind, got, c.want)
		}
	}

	// Closed clients leave nothing open.
	pc.Close(ctx)
	cons.Close(ctx)
	prod.Close(ctx)
	var last metrics
	for deadline := time.Now().Add(20 * time.Second); ; {
		last = scrape(t, base)
		open := last.value(t, emulatorhttp.MetricConnections)
		for _, k := range emulator.LinkKinds {
			open += last.value(t, emulatorhttp.MetricLinks, "kind", string(k))
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after every client closed: %v connections and links still open", open)
		}
		time.Sleep(20 * time.Millisecond) // polling a gauge, not synchronising
	}
}

// TestMetricsInMemory: a log in memory is never fsynced.
func TestMetricsInMemory(t *testing.T) {
	srv := start(t, &emulator.Config{})
	base := serve(t, srv, emulatorhttp.Options{})
	ctx := testCtx(t, 30*time.Second)
	sendEvents(t, ctx, producer(t, srv, "eh1"), "0", 3, 10)
	m := scrape(t, base)
	if got := m.value(t, emulatorhttp.MetricEventsInBytes, "hub", "eh1", "partition", "0"); got != 30 {
		t.Errorf("bytes in = %v, want 30", got)
	}
	h := histogram(t, m, emulatorhttp.MetricFsyncSeconds)
	if h.GetSampleCount() != 0 || h.GetSampleSum() != 0 {
		t.Errorf("fsync histogram in memory: %d observations, sum %v; want none", h.GetSampleCount(), h.GetSampleSum())
	}
	checkBuckets(t, h)
	if got := m.value(t, emulatorhttp.MetricPartitionBytes, "hub", "eh1", "partition", "0"); got < 30 {
		t.Errorf("partition bytes in memory = %v, want at least the 30 of the bodies", got)
	}
}

// checkFamilies checks the metric families /metrics has: each of the
// emulator's with its help and type, and the Go and process collectors'.
func checkFamilies(t *testing.T, m metrics) {
	t.Helper()
	want := map[string]dto.MetricType{
		emulatorhttp.MetricConnections:         dto.MetricType_GAUGE,
		emulatorhttp.MetricConnectionsAccepted: dto.MetricType_COUNTER,
		emulatorhttp.MetricLinks:               dto.MetricType_GAUGE,
		emulatorhttp.MetricEventsIn:            dto.MetricType_COUNTER,
		emulatorhttp.MetricEventsInBytes:       dto.MetricType_COUNTER,
		emulatorhttp.MetricEventsOut:           dto.MetricType_COUNTER,
		emulatorhttp.MetricEventsOutBytes:      dto.MetricType_COUNTER,
		emulatorhttp.MetricPartitionBytes:      dto.MetricType_GAUGE,
		emulatorhttp.MetricPartitionFirstSeq:   dto.MetricType_GAUGE,
		emulatorhttp.MetricPartitionLastSeq:    dto.MetricType_GAUGE,
		emulatorhttp.MetricFsyncSeconds:        dto.MetricType_HISTOGRAM,
		emulatorhttp.MetricFaultsInjected:      dto.MetricType_COUNTER,
		emulatorhttp.MetricFaultHits:           dto.MetricType_COUNTER,
		emulatorhttp.MetricManagementRequests:  dto.MetricType_COUNTER,
		buildinfo.MetricName:                   dto.MetricType_GAUGE,
		"go_goroutines":                        dto.MetricType_GAUGE,
		"process_start_time_seconds":           dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		f := m[name]
		if f == nil {
			t.Errorf("/metrics has no %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want a %v", name, f.GetType(), typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
	for name := range m {
		// The build's, the same in every ehstream binary, keeps its name.
		if strings.HasPrefix(name, "ehstream_") && !strings.HasPrefix(name, "ehstream_emulator_") && name != buildinfo.MetricName {
			t.Errorf("%s: the emulator's metrics are named ehstream_emulator_*", name)
		}
	}
	for _, k := range emulator.LinkKinds {
		if _, err := m.find(emulatorhttp.MetricLinks, map[string]string{"kind": string(k)}); err != nil {
			t.Error(err)
		}
	}
	for _, k := range emulator.FaultKinds {
		if _, err := m.find(emulatorhttp.MetricFaultsInjected, map[string]string{"kind": string(k)}); err != nil {
			t.Error(err)
		}
	}
}

func histogram(t testing.TB, m metrics, name string) *dto.Histogram {
	t.Helper()
	mt, err := m.find(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mt.Histogram == nil {
		t.Fatalf("%s is not a histogram", name)
	}
	return mt.Histogram
}

// checkBuckets checks that the buckets are cumulative, in seconds, and
// end at +Inf with every observation.
func checkBuckets(t testing.TB, h *dto.Histogram) {
	t.Helper()
	var prev uint64
	var bounds []string
	for _, b := range h.Bucket {
		if b.GetCumulativeCount() < prev {
			t.Errorf("bucket le=%v holds %d, fewer than the %d below it", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
		bounds = append(bounds, fmt.Sprint(b.GetUpperBound()))
	}
	if len(h.Bucket) < 2 || h.Bucket[0].GetUpperBound() != 0.0001 {
		t.Errorf("fsync buckets %v: want seconds from 0.0001", bounds)
	}
	last := h.Bucket[len(h.Bucket)-1]
	if !math.IsInf(last.GetUpperBound(), 1) && prev > h.GetSampleCount() {
		t.Errorf("the buckets hold %d observations, more than the count %d", prev, h.GetSampleCount())
	}
}

// TestMetricsManagementRequests: /metrics counts $management requests by
// what they asked.
func TestMetricsManagementRequests(t *testing.T) {
	srv := start(t, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 3}}})
	base := serve(t, srv, emulatorhttp.Options{})
	ctx := testCtx(t, 30*time.Second)
	cons := consumer(t, srv, "orders", azeventhubs.DefaultConsumerGroup)
	if _, err := cons.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0", "2"} {
		if _, err := cons.GetPartitionProperties(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
	}
	m := scrape(t, base)
	for op, want := range map[string]float64{"hub": 1, "partition": 2, "other": 0} {
		if got := m.value(t, emulatorhttp.MetricManagementRequests, "operation", op); got != want {
			t.Errorf("%s{operation=%s} = %v, want %v", emulatorhttp.MetricManagementRequests, op, got, want)
		}
	}
}
