package emulatorhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// start runs an emulator for the test on a free loopback port.
func start(t testing.TB, cfg *emulator.Config) *emulator.Server {
	t.Helper()
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

// serve serves the emulator's HTTP endpoints on a free loopback port.
func serve(t testing.TB, srv *emulator.Server, opts emulatorhttp.Options) string {
	t.Helper()
	ts := httptest.NewServer(emulatorhttp.New(srv, opts))
	t.Cleanup(ts.Close)
	return ts.URL
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

// sendEvents sends n events of size bytes each to one partition, in one
// batch.
func sendEvents(t testing.TB, ctx context.Context, p *azeventhubs.ProducerClient, partition string, n, size int) {
	t.Helper()
	batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(partition)})
	if err != nil {
		t.Fatalf("new batch: %v", err)
	}
	for i := range n {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		if err := batch.AddEventData(&azeventhubs.EventData{Body: body}, nil); err != nil {
			t.Fatalf("add event %d: %v", i, err)
		}
	}
	if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
		t.Fatalf("send %d events to partition %s: %v", n, partition, err)
	}
}

// receive reads exactly n events.
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

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, body
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// metrics is one scrape of /metrics, parsed.
type metrics map[string]*dto.MetricFamily

func scrape(t testing.TB, base string) metrics {
	t.Helper()
	resp, body := get(t, base+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// find returns the metric of family name whose labels include want.
func (m metrics) find(name string, want map[string]string) (*dto.Metric, error) {
	f := m[name]
	if f == nil {
		return nil, fmt.Errorf("no metric %s", name)
	}
	var found *dto.Metric
	for _, mt := range f.Metric {
		labels := map[string]string{}
		for _, l := range mt.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			if found != nil {
				return nil, fmt.Errorf("%s%v: more than one series", name, want)
			}
			found = mt
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no series %s%v", name, want)
	}
	return found, nil
}

// value is the value of a gauge or counter series.
func (m metrics) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	mt, err := m.find(name, want)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case mt.Gauge != nil:
		return mt.Gauge.GetValue()
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	}
	t.Fatalf("%s%v is neither a gauge nor a counter", name, want)
	return 0
}
