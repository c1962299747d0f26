package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/browsertest"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/offsets"
)

// pageRow is a row of the page's partitions table, as shown.
type pageRow struct {
	Partition string `json:"partition"`
	Next      string `json:"next"`
	End       string `json:"end"`
	Lag       string `json:"lag"`
	Last      string `json:"last"`
	Events    string `json:"events"`
	Skipped   string `json:"skipped"`
}

const readRows = `[...document.querySelectorAll("#partitions tbody tr")].map(tr => ({
	partition: tr.dataset.partition,
	next: tr.querySelector(".c-next").textContent, end: tr.querySelector(".c-end").textContent,
	lag: tr.querySelector(".c-lag").textContent, last: tr.querySelector(".c-last").textContent,
	events: tr.querySelector(".c-events").textContent, skipped: tr.querySelector(".c-skipped").textContent}))`

// chartPoints is, per chart, the points uPlot holds and the count the page
// shows in data-points.
const chartPoints = `Object.fromEntries(["chart-rate", "chart-processing", "chart-delay", "chart-lag"].map(id =>
	[id, [window.ehstream.charts[id] ? window.ehstream.charts[id].data[0].length : -1, Number(document.getElementById(id).dataset.points)]]))`

// The status page in headless Chromium while `ehstream stream` runs: the
// partitions table shows where each partition stands (the sink's
// positions, the hub's ends), the charts hold a point per completed batch,
// the page follows the stream without being reloaded, and the console
// shows no error.
func TestStatusPageInBrowser(t *testing.T) {
	ctx, console := browsertest.Start(t, context.Background(), 1280, 1000)
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2})
	cs := srv.ConnectionString("orders")
	sendCtx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := <-sendRounds(sendCtx, cs, 2, 300, 100); err != nil {
		t.Fatal(err)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "page.db")
	cmd := startCLI(t, "stream", "--connection-string", cs, "--sink", spec, "--job", "pagetest",
		"--batch-interval", "1s", "--max-rate-per-partition", "100", "--http", "127.0.0.1:0")
	base := cmd.statusURL(t)

	ctx, cancelRun := context.WithTimeout(ctx, 120*time.Second)
	defer cancelRun()
	defer browsertest.ScreenshotOnFailure(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	// A mark that a reload would wipe.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	eval := func(js string, v any) {
		t.Helper()
		var err error
		switch p := v.(type) {
		case *[]pageRow:
			*p, err = chromedp.Run(ctx, chromedp.Evaluate[[]pageRow](js))
		case *map[string][2]int:
			*p, err = chromedp.Run(ctx, chromedp.Evaluate[map[string][2]int](js))
		case *string:
			*p, err = chromedp.Run(ctx, chromedp.Evaluate[string](js))
		}
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
	}
	rowsShown := func() map[string]pageRow {
		var rows []pageRow
		eval(readRows, &rows)
		out := map[string]pageRow{}
		for _, r := range rows {
			out[r.Partition] = r
		}
		return out
	}
	caughtUp := func(n0, n1 int) func() bool {
		return func() bool {
			rows := rowsShown()
			for p, n := range map[string]int{"0": n0, "1": n1} {
				r := rows[p]
				if r.Next != fmt.Sprint(n) || r.End != fmt.Sprint(n) || r.Lag != "0" || r.Events != fmt.Sprint(n) || r.Skipped != "0" || r.Last == "-" {
					return false
				}
			}
			return true
		}
	}
	poll(t, 60*time.Second, "the page's table to show both partitions read to 300", caughtUp(300, 300))

	// The sink's positions are what the table shows.
	sk := sinkDB(t, spec, "events")
	job, err := offsets.JobFor("pagetest", eventhubs.NewConf(cs))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := sk.Store.Positions(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsShown()
	for _, p := range ps {
		if rows[p.Partition].Next != fmt.Sprint(p.Next) {
			t.Errorf("partition %s: the page shows next %s, the sink stores %d", p.Partition, rows[p.Partition].Next, p.Next)
		}
	}

	// Ten more events in partition 0: the page shows them without a reload.
	if err := <-sendRounds(sendCtx, cs, 1, 10, 10); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the page's table to show partition 0 read to 310", caughtUp(310, 300))
	var mark string
	eval(`String(window.notReloaded)`, &mark)
	if mark != "true" {
		t.Errorf("the page was reloaded")
	}

	// A point per completed batch, in every chart.
	var last string
	poll(t, 30*time.Second, "every chart to hold a point per completed batch", func() bool {
		var points map[string][2]int
		eval(chartPoints, &points)
		completed := int(apiStatus(t, base).Batches["completed"])
		last = fmt.Sprintf("charts %v, %d completed batches", points, completed)
		if len(points) != 4 || completed < 4 {
			return false
		}
		for _, p := range points {
			if p[0] != completed || p[1] != completed {
				return false
			}
		}
		return true
	})
	t.Log(last)
	var recent string
	eval(`String(document.querySelectorAll("#batches tbody tr").length)`, &recent)
	if recent == "0" {
		t.Errorf("the recent batches table is empty")
	}
	// The rate backpressure allows has a column (empty while nothing limits).
	var columns string
	eval(`[...document.querySelectorAll("#batches thead th")].map(th => th.textContent).join("|") + "/" +
		[...document.querySelectorAll("#batches tbody tr")].map(tr => tr.cells.length).join(",")`, &columns)
	if head, cells, _ := strings.Cut(columns, "/"); !strings.Contains(head, "|Rate limit|") || strings.Count(head, "|")+1 != atoiOr(strings.Split(cells, ",")[0], -1) {
		t.Errorf("the batches table's columns %q and cells per row %q: want a Rate limit column, and a cell for each column", head, cells)
	}

	checkBatchDetail(t, ctx, base)

	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("the console shows errors:\n%s", strings.Join(errs, "\n"))
	}
	if file := os.Getenv("EHSTREAM_STATUS_SCREENSHOT"); file != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", file)
	}
}

// detailShown is the page's batch detail as shown.
type detailShown struct {
	Hidden  bool     `json:"hidden"`
	Batch   string   `json:"batch"`
	Ranges  []string `json:"ranges"`  // partition:from-until:events
	Outputs []string `json:"outputs"` // name=time
	Stats   []string `json:"stats"`   // the processing time's and the scheduling delay's
}

const readDetail = `(() => { const d = document.getElementById("batch-detail"); return {hidden: d.hidden, batch: d.dataset.batch || "",
	ranges: [...d.querySelectorAll("#d-ranges tbody tr")].map(tr => tr.dataset.partition + ":" + tr.querySelector(".c-from").textContent + "-" +
		tr.querySelector(".c-until").textContent + ":" + tr.querySelector(".c-events").textContent),
	outputs: [...d.querySelectorAll("#d-outputs tbody tr")].map(tr => tr.querySelector(".c-name").textContent + "=" + tr.querySelector(".c-time").textContent),
	stats: ["stat-processing", "stat-delay"].map(id => document.getElementById(id).textContent)}; })()`

// checkBatchDetail clicks a batch that read events, in the recent batches
// and then in a chart, and checks the detail the page shows: its ranges
// per partition, with their events, and the time its output took; and the
// average and 95th percentile beside the charts.
func checkBatchDetail(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	var batches []monitor.Batch
	_, body := httpGet(t, base+"api/batches")
	if err := json.Unmarshal([]byte(body), &batches); err != nil {
		t.Fatal(err)
	}
	var b *monitor.Batch
	for i := range batches {
		if batches[i].Outcome == monitor.Completed && batches[i].Events > 0 && len(batches[i].Ranges) == 2 {
			b = &batches[i]
		}
	}
	if b == nil {
		t.Fatalf("no completed batch read events: %s", body)
	}
	sel := chromedp.CSS(fmt.Sprintf(`#batches tbody tr.completed[data-batch="%d"] td:nth-child(4)`, b.Number))
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(sel), chromedp.Click(sel)); err != nil {
		t.Fatalf("clicking batch %d: %v", b.Number, err)
	}
	var want []string
	for _, r := range b.Ranges {
		want = append(want, fmt.Sprintf("%s:%d-%d:%d", r.Partition, r.From, r.Until, r.Until-r.From))
	}
	var shown detailShown
	poll(t, 10*time.Second, fmt.Sprintf("the detail of batch %d", b.Number), func() bool {
		var err error
		if shown, err = chromedp.Run(ctx, chromedp.Evaluate[detailShown](readDetail)); err != nil {
			t.Fatal(err)
		}
		return !shown.Hidden && shown.Batch == fmt.Sprint(b.Number)
	})
	if strings.Join(shown.Ranges, " ") != strings.Join(want, " ") {
		t.Errorf("batch %d's ranges shown %v, want %v", b.Number, shown.Ranges, want)
	}
	if len(shown.Outputs) != 1 || !regexp.MustCompile(`^output 1=[\d.]+ ms$`).MatchString(shown.Outputs[0]) {
		t.Errorf("batch %d's outputs shown %v, want the time of output 1", b.Number, shown.Outputs)
	}
	stat := regexp.MustCompile(`^avg [\d.]+ ms · p95 [\d.]+ ms$`)
	if len(shown.Stats) != 2 || !stat.MatchString(shown.Stats[0]) || !stat.MatchString(shown.Stats[1]) {
		t.Errorf("the charts' figures %q, want avg and p95 of the processing time and the scheduling delay", shown.Stats)
	}
	// A click on a chart shows the batch under the cursor (uPlot finds it
	// as the mouse moves): at its left edge, the first batch kept, which
	// read events before b did.
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS("#chart-processing"))); err != nil {
		t.Fatal(err)
	}
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[4]float64](`(r => [r.left, r.top, r.width, r.height])(document.querySelector("#chart-processing .u-over").getBoundingClientRect())`))
	if err != nil {
		t.Fatal(err)
	}
	x, y := box[0]+2, box[1]+box[3]/2
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y), chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	first := fmt.Sprint(batches[0].Number)
	poll(t, 10*time.Second, "a click on the chart to show batch "+first, func() bool {
		shown, err = chromedp.Run(ctx, chromedp.Evaluate[detailShown](readDetail))
		return err == nil && !shown.Hidden && shown.Batch == first && len(shown.Ranges) > 0
	})
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
