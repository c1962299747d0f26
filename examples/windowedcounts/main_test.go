package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// The example as a user runs it: a local Event Hubs with 2,000 readings
// from 10 devices; the totals are 200 per device.
func TestWindowedCountsLocal(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out strings.Builder
	err := run(ctx, []string{"-db", filepath.Join(dir, "w.db"), "-checkpoint", filepath.Join(dir, "ck"), "-data", filepath.Join(dir, "data"),
		"-batch-interval", "100ms", "-window", "1s", "-slide", "200ms"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "window ending at batch") {
		t.Fatalf("no window printed:\n%s", out.String())
	}
	db := openTestDB(t, filepath.Join(dir, "w.db"))
	got := totalsIn(t, db)
	if len(got) != 10 {
		t.Fatalf("totals of %d devices, want 10: %v", len(got), got)
	}
	for dev, n := range got {
		if n != 200 {
			t.Errorf("%s: total %d, want 200", dev, n)
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func buildExample(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "windowedcounts")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "windowedcounts")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is the example running as a child process.
type proc struct {
	cmd    *exec.Cmd
	exited chan error
	mu     sync.Mutex
	out    bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	go func() { p.exited <- p.cmd.Wait(); close(gone) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-gone })
	return p
}

// waitFor polls the output for s; the process must not exit meanwhile.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !re.MatchString(p.output()) {
		select {
		case err := <-p.exited:
			t.Fatalf("the example exited (%v) before printing %s:\n%s", err, re, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example did not print %s within 60s:\n%s", re, p.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// produce sends n readings keyed by device, in rounds of step, pausing
// between rounds so that the stream reads while it writes.
func produce(ctx context.Context, connStr string, first, n, step int) <-chan error {
	done := make(chan error, 1)
	go func() {
		p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
		if err != nil {
			done <- err
			return
		}
		defer p.Close(context.Background())
		for i := first; i < first+n; i += step {
			if err := sendReadings(ctx, p, i, min(step, first+n-i)); err != nil {
				done <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		done <- nil
	}()
	return done
}

var wroteEvents = regexp.MustCompile(`(?m)^batch \d+: [1-9]\d* events`)

// Windowed counts over 50,000 events, the example killed with SIGKILL five
// times at random moments while a producer writes: the windows written
// equal the oracle's exactly, none missing, doubled or off by one, and each
// device's running total is its number of events. Then the state test: the
// totals survive a restart with a changed program of the same types, and a
// program whose state type changed is refused, naming the stream.
func TestWindowedCountsSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example and streams 50,000 events")
	}
	const events, partitions = 50_000, 4
	bin := buildExample(t)
	local, err := emulator.Start(context.Background(), &emulator.Config{Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: partitions}}})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	defer eventhubs.CloseAll(context.Background())
	connStr := local.ConnectionString("telemetry")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "w.db")
	args := []string{"-connection-string", connStr, "-db", dbPath, "-checkpoint", filepath.Join(dir, "ck"),
		"-batch-interval", "100ms", "-window", "1s", "-slide", "200ms", "-max-rate-per-partition", "300"}
	var runs []*proc
	defer func() {
		if t.Failed() {
			for i, r := range runs {
				t.Logf("run %d:\n%s", i+1, r.output())
			}
		}
	}()
	produced := produce(ctx, connStr, 0, events, 500)
	const kills = 5
	working := 0
	for range kills {
		p := start(t, bin, args...)
		runs = append(runs, p)
		p.waitFor(t, regexp.MustCompile(`(?m)^batch \d+:`))
		select {
		case err := <-p.exited:
			t.Fatalf("the example exited before it was killed: %v", err)
		case <-time.After(time.Duration(300+rand.IntN(1500)) * time.Millisecond):
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		if wroteEvents.MatchString(p.output()) {
			working++
		}
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	last := start(t, bin, append(args, "-until-idle")...)
	runs = append(runs, last)
	if err := <-last.exited; err != nil {
		t.Fatalf("the last run: %v", err)
	}
	if working < 3 {
		t.Fatalf("only %d of %d killed runs had read events: the kills did not hit a working stream", working, kills)
	}
	replays, committed := 0, 0
	for _, r := range runs {
		replays += strings.Count(r.output(), "running again the batch that did not finish")
		committed += strings.Count(r.output(), "had committed before the restart; counting it done")
	}
	t.Logf("%d kills, %d of them after the run had read events; %d batches replayed, %d outputs of them found committed already", kills, working, replays, committed)

	db := openTestDB(t, dbPath)
	hub := readHub(t, ctx, connStr, partitions)
	checkWindows(t, db, hub, 10, 2)
	checkTotals(t, db, hub)

	// The state test: more events, a changed program of the same types,
	// killed once and run again: the totals go on.
	produced = produce(ctx, connStr, events, 5_000, 500)
	p := start(t, bin, append(args, "-totals-program", "v2")...)
	runs = append(runs, p)
	p.waitFor(t, wroteEvents)
	p.cmd.Process.Kill()
	<-p.exited
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	p = start(t, bin, append(args, "-totals-program", "v2", "-until-idle")...)
	runs = append(runs, p)
	if err := <-p.exited; err != nil {
		t.Fatalf("the changed program: %v", err)
	}
	hub = readHub(t, ctx, connStr, partitions)
	checkWindows(t, db, hub, 10, 2)
	checkTotals(t, db, hub)

	// A changed state type: refused, naming the stream, and nothing written.
	p = start(t, bin, append(args, "-totals-program", "float", "-until-idle")...)
	runs = append(runs, p)
	err = <-p.exited
	if err == nil || !strings.Contains(p.output(), `stream "MapWithState#1"`) || !strings.Contains(p.output(), "float64") {
		t.Fatalf("a changed state type: %v, want an error naming the stream and the types:\n%s", err, p.output())
	}
	t.Logf("the changed type: %s", strings.TrimSpace(p.output()))
}

// readHub reads every event of the hub: the devices, per partition, by
// sequence number.
func readHub(t *testing.T, ctx context.Context, connStr string, partitions int) map[string][]string {
	t.Helper()
	conf := eventhubs.NewConf(connStr)
	ranges, err := eventhubs.OffsetRangesBetween(ctx, conf, eventhubs.StartOfStream(), eventhubs.EndOfStream())
	if err != nil {
		t.Fatal(err)
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hub := map[string][]string{}
	for _, e := range evs {
		if int64(len(hub[e.PartitionID])) != e.SequenceNumber {
			t.Fatalf("partition %s: event %d after %d events", e.PartitionID, e.SequenceNumber, len(hub[e.PartitionID]))
		}
		hub[e.PartitionID] = append(hub[e.PartitionID], device(e))
	}
	if len(hub) != partitions {
		t.Fatalf("events in %d partitions, want %d", len(hub), partitions)
	}
	return hub
}

type window struct {
	end    int64
	ranges []eventhubs.OffsetRange
	counts map[string]int64
}

// checkWindows compares the windows table with the oracle: windows at
// every slide, each slide's ranges following the last one's, and each
// window's counts those of the events in its last length/slide slides.
func checkWindows(t *testing.T, db *sql.DB, hub map[string][]string, length, slide int64) {
	t.Helper()
	rows, err := db.Query(`SELECT window_end, ranges FROM windows ORDER BY window_end`)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*window
	for rows.Next() {
		w := &window{counts: map[string]int64{}}
		var rj string
		if err := rows.Scan(&w.end, &rj); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(rj), &w.ranges); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	rows.Close()
	byEnd := map[int64]*window{}
	next := map[string]int64{}
	for i, w := range ws {
		if w.end != int64(i+1)*slide {
			t.Fatalf("window %d ends at batch %d, want %d: a window is missing or doubled", i+1, w.end, int64(i+1)*slide)
		}
		byEnd[w.end] = w
		for _, r := range w.ranges {
			if r.FromSeqNo != next[r.PartitionID] {
				t.Fatalf("window ending at %d reads partition %s from %d, the window before ended at %d", w.end, r.PartitionID, r.FromSeqNo, next[r.PartitionID])
			}
			next[r.PartitionID] = r.UntilSeqNo
		}
	}
	for p, devs := range hub {
		if next[p] != int64(len(devs)) {
			t.Fatalf("the windows read partition %s up to %d, it holds %d events", p, next[p], len(devs))
		}
	}
	rows, err = db.Query(`SELECT window_end, device, events FROM window_counts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var end, n int64
		var dev string
		if err := rows.Scan(&end, &dev, &n); err != nil {
			t.Fatal(err)
		}
		w, ok := byEnd[end]
		if !ok {
			t.Fatalf("counts of window %d, which is not in the windows table", end)
		}
		w.counts[dev] = n
	}
	rows.Close()
	total := 0
	for _, w := range ws {
		want := map[string]int64{}
		for e := w.end; e > w.end-length && e > 0; e -= slide {
			for _, r := range byEnd[e].ranges {
				for _, dev := range hub[r.PartitionID][r.FromSeqNo:r.UntilSeqNo] {
					want[dev]++
				}
			}
		}
		if fmt.Sprint(w.counts) != fmt.Sprint(want) {
			t.Fatalf("window ending at batch %d: counts %v, the oracle's %v", w.end, w.counts, want)
		}
		total += len(want)
	}
	t.Logf("%d windows, %d rows of counts: all equal the oracle's", len(ws), total)
}

func checkTotals(t *testing.T, db *sql.DB, hub map[string][]string) {
	t.Helper()
	want := map[string]int64{}
	for _, devs := range hub {
		for _, d := range devs {
			want[d]++
		}
	}
	got := totalsIn(t, db)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("running totals %v, want %v", got, want)
	}
}

func totalsIn(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT device, events FROM device_totals`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var dev string
		var n int64
		if err := rows.Scan(&dev, &n); err != nil {
			t.Fatal(err)
		}
		got[dev] = n
	}
	return got
}

func openTestDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
