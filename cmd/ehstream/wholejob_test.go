package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/internal/browsertest"
)

// Two replicas of `ehstream stream` share a 4-partition hub through
// PostgreSQL while a producer writes; b is killed with SIGKILL. Within one
// update interval of the renewal b missed, a's /metrics counts b's
// partitions as unowned, with lags in events and in time that grow; a's
// page marks them, and while a transaction holds b's ownership records (a
// stuck session, so that a cannot take them over) the page shows the
// banner once they have had no live owner for longer than the expiration.
// Once the records are free, a takes them, and the banner goes. Before the
// kill, a live b is never counted unowned; /readyz stays about a.
func TestWholeJobAfterKill(t *testing.T) {
	pg := freshPostgres(t)
	bctx, console := browsertest.Start(t, context.Background(), 1280, 1000)
	j := startWholeJob(t, pg, 2*time.Second, 8*time.Second)
	// Three intervals: a live replica is never counted unowned.
	for end := time.Now().Add(3 * j.interval); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n := gaugeValue(metricFamilies(t, j.a), "ehstream_partitions_unowned"); n != 0 {
			t.Fatalf("ehstream_partitions_unowned = %v while both replicas run", n)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(j.a)); err != nil {
		t.Fatal(err)
	}
	defer browsertest.ScreenshotOnFailure(t, bctx)
	hold := j.killB(t, pg)
	defer hold.Rollback()
	j.checkUnowned(t)
	j.checkBanner(t, bctx)

	// The records free, a takes b's partitions and the banner goes.
	hold.Rollback()
	poll(t, 30*time.Second, "a to own every partition", func() bool {
		own := liveOwnersOf(metricFamilies(t, j.a))
		return len(own) == 4 && countOwned(own, "a") == 4
	})
	poll(t, 10*time.Second, "the banner to go", func() bool { shown, _ := j.banner(t, bctx); return !shown })
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("the console shows errors:\n%s", strings.Join(errs, "\n"))
	}
	a := j.replicas["a"]
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-a.exited; err != nil {
		t.Errorf("a after SIGTERM: %v\n%s", err, a.output())
	}
}

// wholeJob is the job of TestWholeJobAfterKill: replicas a and b.
type wholeJob struct {
	interval, expiration time.Duration
	replicas             map[string]*streamProcess
	a                    string    // a's status page
	bParts               []string  // b's partitions, before it was killed
	renewed              time.Time // b's last renewal
}

// startWholeJob starts a producer and replicas a and b, and waits until a
// sees them share the partitions.
func startWholeJob(t *testing.T, pg string, interval, expiration time.Duration) *wholeJob {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "whole", PartitionCount: 4})
	cs := srv.ConnectionString("whole")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	produceUntil(t, ctx, cs, 4)
	j := &wholeJob{interval: interval, expiration: expiration, replicas: map[string]*streamProcess{}}
	for _, id := range []string{"a", "b"} {
		p := startStreamProcess(t, bin, "--connection-string", cs, "--sink", pg, "--table", "events", "--job", "whole",
			"--batch-interval", "100ms", "--ownership", pg, "--owner-id", id, "--ownership-interval", interval.String(),
			"--ownership-expiration", expiration.String(), "--http", "127.0.0.1:0")
		p.waitUntil(t, "its status URL", func(out string) bool { return statusLine.MatchString(out) })
		j.replicas[id] = p
	}
	j.a = statusLine.FindStringSubmatch(j.replicas["a"].output())[1]
	var owners map[string]string
	poll(t, 60*time.Second, "a's metrics to show two live partitions each of a and b", func() bool {
		owners = liveOwnersOf(metricFamilies(t, j.a))
		return len(owners) == 4 && countOwned(owners, "a") == 2 && countOwned(owners, "b") == 2
	})
	j.bParts = ownedBy(owners, "b")
	return j
}

// killB kills b and holds its ownership records in a transaction, as a
// stuck session would, so that a cannot take them over; it notes b's last
// renewal. The caller rolls the transaction back.
func (j *wholeJob) killB(t *testing.T, pg string) *sql.Tx {
	t.Helper()
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	j.replicas["b"].cmd.Process.Kill()
	<-j.replicas["b"].exited
	hold, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var renewedMs int64
	if err := hold.QueryRow(`SELECT max(modified_ms) FROM ehstream_ownership WHERE owner_id = 'b'`).Scan(&renewedMs); err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Exec(`SELECT 1 FROM ehstream_ownership WHERE owner_id = 'b' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	j.renewed = time.UnixMilli(renewedMs)
	t.Logf("b killed %s after its last renewal", time.Since(j.renewed).Round(time.Millisecond))
	return hold
}

// checkUnowned checks that a's metrics count b's partitions unowned within
// one update interval of the renewal b missed (due at most 1.1 intervals
// after its last), and that their lags in events and in time grow.
func (j *wholeJob) checkUnowned(t *testing.T) {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	poll(t, 30*time.Second, "a's metrics to count b's partitions unowned", func() bool {
		fams = metricFamilies(t, j.a)
		return gaugeValue(fams, "ehstream_partitions_unowned") == float64(len(j.bParts))
	})
	due := j.renewed.Add(j.interval * 11 / 10)
	t.Logf("unowned shown %s after b's last renewal, %s after the renewal it missed was due", time.Since(j.renewed).Round(time.Millisecond), time.Since(due).Round(time.Millisecond))
	if late := time.Since(due); late > j.interval {
		t.Errorf("b's partitions were counted unowned %s after its missed renewal was due, more than an update interval (%s)", late, j.interval)
	}
	if notLive := notLiveOf(fams); !slices.Equal(notLive, j.bParts) {
		t.Errorf("partitions without a live owner %v, want b's %v", notLive, j.bParts)
	}
	lag1, age1 := partitionGauges(fams, "ehstream_partition_lag_events"), partitionGauges(fams, "ehstream_partition_lag_seconds")
	poll(t, 20*time.Second, "the lags of b's partitions to grow", func() bool {
		fams = metricFamilies(t, j.a)
		lag2, age2 := partitionGauges(fams, "ehstream_partition_lag_events"), partitionGauges(fams, "ehstream_partition_lag_seconds")
		for _, p := range j.bParts {
			if lag2[p] <= lag1[p] || age2[p] <= age1[p]+0.5 {
				return false
			}
		}
		return true
	})
	t.Logf("b's partitions: lag in events %v, then %v; in seconds %v, then %v", lag1, partitionGauges(fams, "ehstream_partition_lag_events"),
		age1, partitionGauges(fams, "ehstream_partition_lag_seconds"))
	if code, body := httpGet(t, j.a+"readyz"); code != 200 {
		t.Errorf("a's /readyz: %d %s; want ready, it reads its partitions", code, body)
	}
}

// checkBanner checks a's page: b's partitions without a live owner, then,
// after the expiration, the banner naming them, while a's claims of them
// fail.
func (j *wholeJob) checkBanner(t *testing.T, bctx context.Context) {
	t.Helper()
	poll(t, 10*time.Second, "the page to show b's partitions without a live owner", func() bool {
		r := j.rows(t, bctx)
		for _, p := range j.bParts {
			if r[p].Live != "false" || !strings.Contains(r[p].Owner, "none since") || !strings.Contains(r[p].Owner, "b last renewed") {
				return false
			}
		}
		return true
	})
	if shown, text := j.banner(t, bctx); shown && time.Since(j.renewed) < j.expiration {
		t.Errorf("the banner shows before the expiration: %s", text)
	}
	var text string
	poll(t, 30*time.Second, "the banner to name b's partitions", func() bool {
		var shown bool
		shown, text = j.banner(t, bctx)
		return shown && strings.HasPrefix(text, strings.Join(j.bParts, ",")+"|")
	})
	t.Logf("banner %s after b's last renewal: %s", time.Since(j.renewed).Round(time.Millisecond), text)
	if since := time.Since(j.renewed); since < j.expiration {
		t.Errorf("the banner showed %s after b's last renewal, before the expiration (%s)", since, j.expiration)
	}
	if r := j.rows(t, bctx); r[j.bParts[0]].Class != "orphaned" {
		t.Errorf("partition %s's row: %+v; want it marked orphaned", j.bParts[0], r[j.bParts[0]])
	}
	poll(t, 20*time.Second, "a's failed renewal (its claims of b's partitions wait on the stuck session)", func() bool {
		return counter(metricFamilies(t, j.a), "ehstream_ownership_renewals_total", "result", "error") >= 1
	})
}

// rows is the page's partitions table, by partition.
func (j *wholeJob) rows(t *testing.T, bctx context.Context) map[string]wholeRow {
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]wholeRow](readWholeRows))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wholeRow{}
	for _, r := range got {
		out[r.Partition] = r
	}
	return out
}

// banner says whether the page shows the banner, and its partitions and
// text.
func (j *wholeJob) banner(t *testing.T, bctx context.Context) (bool, string) {
	s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(b => b.hidden ? "" : b.dataset.partitions + "|" + b.textContent)(document.getElementById("orphaned"))`))
	if err != nil {
		t.Fatal(err)
	}
	return s != "", s
}

// wholeRow is a row of the page's partitions table, as the whole job
// shows it.
type wholeRow struct {
	Partition string `json:"partition"`
	Live      string `json:"live"`
	Class     string `json:"class"`
	Owner     string `json:"owner"`
	Age       string `json:"age"`
}

const readWholeRows = `[...document.querySelectorAll("#partitions tbody tr")].map(tr => ({
	partition: tr.dataset.partition, live: tr.dataset.live, class: tr.className,
	owner: tr.querySelector(".c-owner").textContent, age: tr.querySelector(".c-age").textContent}))`

// produceUntil writes an event to each of partitions every 50 ms until
// ctx ends; the test waits for it to stop.
func produceUntil(t *testing.T, ctx context.Context, connStr string, partitions int) {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; p.Close(context.Background()) })
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			for part := range partitions {
				id := strconv.Itoa(part)
				b, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
				if err == nil {
					err = b.AddEventData(&azeventhubs.EventData{Body: []byte(fmt.Sprint(i))}, nil)
				}
				if err == nil {
					err = p.SendEventDataBatch(ctx, b, nil)
				}
				if err != nil && ctx.Err() == nil {
					t.Errorf("producing: %v", err)
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

// liveOwnersOf is each partition's live owner, as ehstream_partition_owned
// says.
func liveOwnersOf(fams map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, m := range fams["ehstream_partition_owned"].GetMetric() {
		if m.GetGauge().GetValue() == 1 {
			out[labelOf(m, "partition")] = labelOf(m, "owner")
		}
	}
	return out
}

// notLiveOf is the partitions ehstream_partition_owned says have no live
// owner, sorted.
func notLiveOf(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range fams["ehstream_partition_owned"].GetMetric() {
		if m.GetGauge().GetValue() == 0 {
			out = append(out, labelOf(m, "partition"))
		}
	}
	slices.Sort(out)
	return out
}

func ownedBy(owners map[string]string, owner string) []string {
	var out []string
	for p, o := range owners {
		if o == owner {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func countOwned(owners map[string]string, owner string) int { return len(ownedBy(owners, owner)) }

// partitionGauges is family name's value by partition.
func partitionGauges(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		out[labelOf(m, "partition")] = m.GetGauge().GetValue()
	}
	return out
}

// gaugeValue is the value of family name's only series; -1 without one.
func gaugeValue(fams map[string]*dto.MetricFamily, name string) float64 {
	ms := fams[name].GetMetric()
	if len(ms) != 1 {
		return -1
	}
	return ms[0].GetGauge().GetValue()
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
