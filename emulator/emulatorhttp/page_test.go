package emulatorhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/chromedp/chromedp"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	"github.com/ehstream/ehstream/internal/browsertest"
)

// pageFixture is an emulator with traffic and a reader holding a
// partition with an owner level, served over HTTP.
type pageFixture struct {
	srv  *emulator.Server
	base string
	prod *azeventhubs.ProducerClient
	cons *azeventhubs.ConsumerClient
}

func newPageFixture(t *testing.T, ctx context.Context) *pageFixture {
	t.Helper()
	srv := start(t, &emulator.Config{DataDir: t.TempDir(), KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{
		{Name: "orders", PartitionCount: 3, ConsumerGroups: []string{"audit"}, Retention: 48 * time.Hour},
		{Name: "clicks", PartitionCount: 1},
	}})
	f := &pageFixture{srv: srv, base: serve(t, srv, emulatorhttp.Options{}), prod: producer(t, srv, "orders"), cons: consumer(t, srv, "orders", "audit")}
	sendEvents(t, ctx, f.prod, "1", 7, 50)
	sendEvents(t, ctx, f.prod, "2", 3, 50)
	pc, err := f.cons.NewPartitionClient("1", &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}, OwnerLevel: to.Ptr(int64(7))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	receive(t, ctx, pc, 7) // the link is attached once events arrived
	return f
}

// partitionBounds is what the SDK says of each partition of a hub: its
// first and last sequence numbers, as the page shows them.
func partitionBounds(t *testing.T, ctx context.Context, f *pageFixture, hub string) [][2]int64 {
	t.Helper()
	c := f.cons
	if hub != "orders" {
		c = consumer(t, f.srv, hub, azeventhubs.DefaultConsumerGroup)
	}
	props, err := c.GetEventHubProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int64
	for _, id := range props.PartitionIDs {
		pp, err := c.GetPartitionProperties(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]int64{pp.BeginningSequenceNumber, pp.LastEnqueuedSequenceNumber})
	}
	return out
}

// TestAPIHubs checks the JSON the page draws against the SDK's view.
func TestAPIHubs(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	f := newPageFixture(t, ctx)
	var st struct {
		Connections int                `json:"connections"`
		Links       map[string]int     `json:"links"`
		DataDir     string             `json:"dataDir"`
		Faults      []map[string]any   `json:"faults"`
		Listeners   []map[string]any   `json:"listeners"`
		Hubs        []apiHub           `json:"hubs"`
		Extra       map[string]any     `json:"-"`
		_           map[string]float64 `json:"-"`
	}
	getJSON(t, f.base+"/api/hubs", &st)
	if len(st.Hubs) != 2 || st.Hubs[0].Name != "orders" || st.Hubs[1].Name != "clicks" {
		t.Fatalf("hubs %+v, want orders and clicks", st.Hubs)
	}
	if l := st.Listeners; len(l) != 2 || l[0]["transport"] != "amqp" || l[0]["addr"] != f.srv.Addr() || l[1]["transport"] != "kafka" || l[1]["addr"] != f.srv.KafkaAddr() {
		t.Errorf("listeners %v, want amqp at %s and kafka at %s", l, f.srv.Addr(), f.srv.KafkaAddr())
	}
	orders := st.Hubs[0]
	if orders.Retention != "48h0m0s" || orders.RetentionSeconds != 48*3600 || st.Hubs[1].Retention != "" {
		t.Errorf("retention %q (%v s) and %q", orders.Retention, orders.RetentionSeconds, st.Hubs[1].Retention)
	}
	want := partitionBounds(t, ctx, f, "orders")
	for i, p := range orders.Partitions {
		if [2]int64{p.FirstSequenceNumber, p.LastSequenceNumber} != want[i] {
			t.Errorf("partition %s: first %d last %d, the SDK says %v", p.ID, p.FirstSequenceNumber, p.LastSequenceNumber, want[i])
		}
	}
	if p := orders.Partitions[1]; p.EventsIn != 7 || p.BytesIn != 350 || p.EventsOut != 7 || p.BytesOut != 350 || p.Bytes <= 350 || p.LastEnqueuedTime == nil {
		t.Errorf("partition 1: %+v", p)
	}
	if p := orders.Partitions[0]; !p.Empty || p.LastOffset != -1 || p.LastEnqueuedTime != nil {
		t.Errorf("partition 0, never written: %+v", p)
	}
	var groups []string
	for _, g := range orders.ConsumerGroups {
		groups = append(groups, g.Name)
	}
	if !reflect.DeepEqual(groups, []string{"$Default", "audit"}) {
		t.Fatalf("consumer groups %v", groups)
	}
	if r := orders.ConsumerGroups[0].Readers; len(r) != 0 {
		t.Errorf("$Default has readers %+v", r)
	}
	readers := orders.ConsumerGroups[1].Readers
	if len(readers) != 1 {
		t.Fatalf("audit's readers: %+v, want one", readers)
	}
	r := readers[0]
	if r.Partition != "1" || r.OwnerLevel == nil || *r.OwnerLevel != 7 || r.Delivered != 7 || r.NextSequenceNumber != 7 || r.Client == "" {
		t.Errorf("reader %+v (owner level %v)", r, r.OwnerLevel)
	}
	if st.Connections != 2 || st.Links["receiver"] != 1 || st.Links["sender"] != 2 || st.DataDir == "" || st.Faults == nil {
		t.Errorf("connections %d, links %v, data dir %q, faults %v", st.Connections, st.Links, st.DataDir, st.Faults)
	}

	// The page, its files and the health check; the faults API only when
	// asked for.
	for path, ct := range map[string]string{"/": "text/html", "/static/app.js": "javascript", "/static/style.css": "text/css",
		"/favicon.ico": "image/svg+xml", "/health": "application/json"} {
		resp, body := get(t, f.base+path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: %s, %q, want %s", path, resp.Status, resp.Header.Get("Content-Type"), ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if path == "/" && (strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://")) {
			t.Errorf("the page names another site:\n%s", body)
		}
	}
	if resp, _ := get(t, f.base+"/faults"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /faults without Options.Faults: %s, want 404", resp.Status)
	}
	if resp, _ := get(t, f.base+"/nosuch"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nosuch: %s, want 404", resp.Status)
	}
}

type apiHub struct {
	Name             string  `json:"name"`
	Retention        string  `json:"retention"`
	RetentionSeconds float64 `json:"retentionSeconds"`
	Partitions       []struct {
		ID                  string     `json:"id"`
		FirstSequenceNumber int64      `json:"firstSequenceNumber"`
		LastSequenceNumber  int64      `json:"lastSequenceNumber"`
		Empty               bool       `json:"empty"`
		LastOffset          int64      `json:"lastOffset"`
		LastEnqueuedTime    *time.Time `json:"lastEnqueuedTime"`
		Bytes               int64      `json:"bytes"`
		EventsIn            int64      `json:"eventsIn"`
		BytesIn             int64      `json:"bytesIn"`
		EventsOut           int64      `json:"eventsOut"`
		BytesOut            int64      `json:"bytesOut"`
	} `json:"partitions"`
	ConsumerGroups []struct {
		Name    string `json:"name"`
		Readers []struct {
			Partition          string `json:"partition"`
			OwnerLevel         *int64 `json:"ownerLevel"`
			Client             string `json:"client"`
			Delivered          int64  `json:"delivered"`
			NextSequenceNumber int64  `json:"nextSequenceNumber"`
		} `json:"readers"`
	} `json:"consumerGroups"`
}

// pageView is what the page shows, read from its DOM.
type pageView struct {
	Hubs []struct {
		Name       string `json:"name"`
		Partitions []struct {
			ID    string `json:"id"`
			First string `json:"first"`
			Last  string `json:"last"`
		} `json:"partitions"`
		Groups []struct {
			Group      string `json:"group"`
			Partition  string `json:"partition"`
			OwnerLevel string `json:"ownerLevel"`
			Client     string `json:"client"`
			None       bool   `json:"none"`
		} `json:"groups"`
	} `json:"hubs"`
	Summary string `json:"summary"`
	Error   string `json:"error"`
}

const readPage = `({
  summary: document.getElementById("summary").textContent,
  error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
  hubs: [...document.querySelectorAll("section.hub")].map((s) => ({
    name: s.dataset.hub,
    partitions: [...s.querySelectorAll("table.partitions tbody tr")].map((r) => ({
      id: r.dataset.partition,
      first: r.querySelector(".first").textContent,
      last: r.querySelector(".last").textContent,
    })),
    groups: [...s.querySelectorAll("table.groups tbody tr")].map((r) => ({
      group: r.dataset.group,
      partition: r.dataset.partition || "",
      ownerLevel: r.querySelector(".owner-level") ? r.querySelector(".owner-level").textContent : "",
      client: r.querySelector(".client") ? r.querySelector(".client").textContent : "",
      none: r.classList.contains("none"),
    })),
  })),
})`

// TestPageInBrowser loads the status page in headless Chromium and checks
// that it shows the hubs, the partitions with the sequence numbers the SDK
// reports, the consumer groups, and the reader with its owner level; that
// it refreshes itself; and that the console stays free of errors. It
// skips without Chromium, unless EHSTREAM_TEST_BROWSER=1.
func TestPageInBrowser(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	bctx, console := browsertest.Start(t, ctx, 1400, 1000)
	f := newPageFixture(t, ctx)
	// Cleanups run last first: this one before the browser closes.
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		browsertest.ScreenshotOnFailure(t, sctx)
	})

	rowSel := `section.hub[data-hub="orders"] table.groups tr[data-group="audit"][data-partition="1"]`
	if err := chromedp.Do(bctx, chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.CSS(rowSel))); err != nil {
		t.Fatalf("loading the page and waiting for the reader's row: %v", err)
	}
	view, err := chromedp.Run(bctx, chromedp.Evaluate[pageView](readPage))
	if err != nil {
		t.Fatal(err)
	}
	if view.Error != "" {
		t.Errorf("the page shows an error: %s", view.Error)
	}
	if !strings.Contains(view.Summary, "2 connections") || !strings.Contains(view.Summary, "receiver 1") ||
		!strings.Contains(view.Summary, "Kafka on "+f.srv.KafkaAddr()) {
		t.Errorf("summary %q: want 2 connections, receiver 1 and Kafka on %s", view.Summary, f.srv.KafkaAddr())
	}
	if len(view.Hubs) != 2 || view.Hubs[0].Name != "orders" || view.Hubs[1].Name != "clicks" {
		t.Fatalf("the page shows hubs %+v, want orders and clicks", view.Hubs)
	}
	for i, hub := range []string{"orders", "clicks"} {
		want := partitionBounds(t, ctx, f, hub)
		shown := view.Hubs[i].Partitions
		if len(shown) != len(want) {
			t.Fatalf("hub %s: the page shows %d partitions, the SDK says %d", hub, len(shown), len(want))
		}
		for j, p := range shown {
			if p.ID != fmt.Sprint(j) || p.First != fmt.Sprint(want[j][0]) || p.Last != fmt.Sprint(want[j][1]) {
				t.Errorf("hub %s: the page shows partition %s with first %s last %s; the SDK says partition %d has %d..%d",
					hub, p.ID, p.First, p.Last, j, want[j][0], want[j][1])
			}
		}
	}
	groups := view.Hubs[0].Groups
	if len(groups) != 2 || groups[0].Group != "$Default" || !groups[0].None || groups[1].Group != "audit" || groups[1].None {
		t.Fatalf("orders' consumer groups on the page: %+v; want $Default without readers and audit with one", groups)
	}
	if r := groups[1]; r.Partition != "1" || r.OwnerLevel != "7" || r.Client == "" {
		t.Errorf("the reader on the page: %+v; want partition 1, owner level 7, its client's address", r)
	}
	if g := view.Hubs[1].Groups; len(g) != 1 || g[0].Group != "$Default" || !g[0].None {
		t.Errorf("clicks' consumer groups on the page: %+v", g)
	}

	// It refreshes itself: two more events on partition 2 show up without
	// a reload.
	sendEvents(t, ctx, f.prod, "2", 2, 10)
	wctx, cancel := context.WithTimeout(bctx, 15*time.Second)
	defer cancel()
	shown, err := chromedp.Run(wctx, chromedp.Evaluate[string](`new Promise((resolve) => {
  const cell = () => document.querySelector('section.hub[data-hub="orders"] table.partitions tr[data-partition="2"] .last');
  const check = () => { const c = cell(); if (c && c.textContent === "4") { obs.disconnect(); resolve(c.textContent); } };
  const obs = new MutationObserver(check);
  obs.observe(document.body, { subtree: true, childList: true, characterData: true });
  check();
})`, chromedp.EvalAwaitPromise))
	if err != nil || shown != "4" {
		t.Fatalf("after two more events on partition 2, the page did not show last sequence number 4 within 15s: %q %v", shown, err)
	}

	// Anything the page logged arrived before this answer.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`1`)); err != nil {
		t.Fatal(err)
	}
	if problems := console.Errors(); len(problems) > 0 {
		t.Errorf("the browser console has errors:\n%s", strings.Join(problems, "\n"))
	}
}

// TestKafkaOnPage: the status page's summary says where Kafka is served
// and what its clients did.
func TestKafkaOnPage(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	bctx, console := browsertest.Start(t, ctx, 1400, 1000)
	srv, base := kafkaTraffic(t, ctx)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		browsertest.ScreenshotOnFailure(t, sctx)
	})
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`section.hub[data-hub="orders"]`))); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	summary, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("summary").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	want := "Kafka on " + srv.KafkaAddr() + ": "
	if !strings.Contains(summary, want) || !strings.Contains(summary, "connection") || !strings.Contains(summary, "requests") {
		t.Fatalf("summary %q: want %q with connections and requests", summary, want)
	}
	if problems := console.Errors(); len(problems) > 0 {
		t.Errorf("the browser console has errors:\n%s", strings.Join(problems, "\n"))
	}
}
