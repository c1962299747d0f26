package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/internal/pgtest"
)

func TestTimedBodies(t *testing.T) {
	body, hex := timedBodies(100, 1000, 30*time.Minute, "x"), timedBodies(100, 1000, 30*time.Minute, "hex")
	var bad atomic.Int64
	eventTime := bodyTime(&bad)
	for _, i := range []int{0, 1, 500, 999} {
		b, h := body(3, i), hex(3, i)
		if len(b) != 100 || len(h) != 100 || !bytes.Equal(h, hex(3, i)) || bytes.Equal(h, hex(3, i+1)) || bytes.Equal(b[13:], h[13:]) {
			t.Errorf("body %d is %q, with hex %q: want 100 bytes, the hex ones the same each time, other than the next event's, and not padded with x", i, b, h)
		}
		if got := eventTime(&eventhubs.Event{Body: h}); !got.Equal(eventTime(&eventhubs.Event{Body: b})) {
			t.Errorf("event %d's time is %s with hex padding, %s with x", i, got, eventTime(&eventhubs.Event{Body: b}))
		}
		want := timeBase.Add(time.Duration(i) * 1800 * time.Millisecond)
		if got := eventTime(&eventhubs.Event{Body: b}); !got.Equal(want) {
			t.Errorf("event %d's time is %s, want %s", i, got, want)
		}
	}
	if bad.Load() != 0 {
		t.Errorf("%d bad bodies among timed ones", bad.Load())
	}
	if got := eventTime(&eventhubs.Event{Body: []byte("xxxx")}); !got.IsZero() || bad.Load() != 1 {
		t.Errorf("a body without a time gave %s and counted %d bad, want the zero time and 1", got, bad.Load())
	}
}

// buildStreambench builds this command into a temporary directory.
func buildStreambench(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streambench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestEventTimeRun reads a small backlog whose event times span 30
// minutes with the event-time window in append mode: every 1 minute window
// but the last closes, each with every key, and none is late.
func TestEventTimeRun(t *testing.T) {
	bin := buildStreambench(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-events", "8000", "-partitions", "2", "-max-rate-per-partition", "400",
		"-keys", "10", "-event-time").CombinedOutput()
	if err != nil {
		t.Fatalf("streambench: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`event-time \(append, body, 1m0s windows\): batches=\d+ emitted=(\d+) late=(\d+) stateWindows=(\d+) events=8000 .* ratio=[0-9.]+ cpuRatio=[0-9.]+ .*peakRSS=\d+kB`).FindStringSubmatch(string(out))
	if line == nil {
		t.Fatalf("no event-time line in the output:\n%s", out)
	}
	if emitted, late, state := line[1], line[2], line[3]; emitted != "290" || late != "0" || state != "10" {
		t.Errorf("emitted=%s late=%s stateWindows=%s, want 290 (29 windows closed, 10 keys each), 0 and 10 (the last window)\n%s", emitted, late, state, out)
	}
}

func TestBadFlags(t *testing.T) {
	bin := buildStreambench(t)
	for _, tc := range []struct{ flag, value, want string }{
		{"-event-mode", "sideways", `-event-mode "sideways": give append or update`},
		{"-event-source", "header", `-event-source "header": give body or enqueued`},
		{"-state-store", "sqlite,redis", `-state-store "redis": give dir, sqlite or postgres`},
		{"-state-keys", "0", `-state-keys 0: give a positive number of keys`},
		{"-state-store", "postgres", `-state-store postgres: no database: give -postgres postgres://`},
		{"-event-window", "0s", `-event-window 0s: give a positive length`},
		{"-body-pad", "zeros", `-body-pad "zeros": give x or hex`},
		{"-sink-format", "parquet,csv", `-sink-format "csv": give parquet or avro`},
		{"-sink-dir", "/nonexistent/dir", `-sink-dir "/nonexistent/dir" is not a directory`},
		{"-cli-sink", "sqlite,mysql", `-cli-sink "mysql": give sqlite or postgres`},
		{"-cli-sink", "postgres", `-cli-sink postgres: no database: give -postgres postgres://`},
		{"-read-ahead", "-1", `-read-ahead -1: give 0 (off) or a number of bytes`},
	} {
		cmd := exec.Command(bin, tc.flag, tc.value)
		cmd.Env = append(os.Environ(), "EHSTREAM_TEST_POSTGRES=") // -state-store postgres finds no URL
		out, err := cmd.CombinedOutput()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s %s: %v, output %q; want exit status 1 and %q", tc.flag, tc.value, err, out, tc.want)
		}
	}
}

// TestStateStoreRun reads a small backlog (2 partitions, 4,000 events
// each, 400 a batch) with the running counts and the event-time window
// keeping their state per partition in SQLite, and in PostgreSQL when
// EHSTREAM_TEST_POSTGRES is set: the counts read back from the database
// add up to the events read over 1,000 keys, each partition's stored
// records begin with a whole one, and batches stored changes records too
// (400 events touch 400 of a partition's 500 keys, so changes do not
// outweigh the whole state every batch).
func TestStateStoreRun(t *testing.T) {
	bin := buildStreambench(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			args := []string{"-events", "8000", "-partitions", "2", "-max-rate-per-partition", "400",
				"-keys", "10", "-state-keys", "1000", "-event-time", "-state-store", db}
			if db == "postgres" {
				args = append(args, "-postgres", pgtest.Fresh(t))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("streambench: %v\n%s", err, out)
			}
			checkStateLines(t, db, string(out))
		})
	}
}

// checkStateLines checks the lines of database db's phases in out.
func checkStateLines(t *testing.T, db, out string) {
	t.Helper()
	counts := regexp.MustCompile(`state \(` + db + `, MapWithState running counts, 1000 keys, 500 per partition\): batches=\d+ events=8000 .* ratio=[0-9.]+ cpuRatio=[0-9.]+ ` +
		`stateBytes/batch median=(\d+) max=\d+ records whole=(\d+) changes=(\d+) commit median=[0-9.]+ms p95=[0-9.]+ms batch median=[0-9.]+ms p95=[0-9.]+ms ` +
		`stored rows=\d+ whole=(\d+) keys=(\d+) sum=(\d+) table=\d+kB peakRSS=\d+kB`).FindStringSubmatch(out)
	if counts == nil {
		t.Fatalf("no state line for %s in the output:\n%s", db, out)
	}
	median, whole, changes, storedWhole, keys, sum := counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]
	if keys != "1000" || sum != "8000" || storedWhole != "2" {
		t.Errorf("stored keys=%s sum=%s whole=%s, want 1000 keys counting 8000 events, each of 2 partitions' records beginning with a whole one\n%s", keys, sum, storedWhole, out)
	}
	if median == "0" || whole == "0" || changes == "0" {
		t.Errorf("stateBytes/batch median=%s, whole records %s, changes records %s: want each above 0\n%s", median, whole, changes, out)
	}
	window := regexp.MustCompile(`event-time \(append, body, 1m0s windows\) state=` + db + `: batches=\d+ emitted=(\d+) late=(\d+) stateWindows=(\d+) events=8000 .* records whole=\d+ changes=\d+ .*peakRSS=\d+kB`).FindStringSubmatch(out)
	if window == nil {
		t.Fatalf("no event-time line for %s in the output:\n%s", db, out)
	}
	// Keys are partition-local: each partition closes its 29 windows of 10 keys.
	if emitted, late, state := window[1], window[2], window[3]; emitted != "580" || late != "0" || state != "20" {
		t.Errorf("emitted=%s late=%s stateWindows=%s, want 580 (29 windows closed in each of 2 partitions, 10 keys each), 0 and 20 (the last window of each)\n%s", emitted, late, state, out)
	}
}

// TestFileSinkRun reads a small backlog (2 partitions, 4,000 events each)
// into Parquet files, then Avro files: each phase prints its line, with
// one file per partition (the default roll, 300 MB, is not reached) that
// the run checked holds each event once, and leaves no directory behind.
func TestFileSinkRun(t *testing.T) {
	bin := buildStreambench(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-events", "8000", "-partitions", "2", "-max-rate-per-partition", "400",
		"-sink-format", "parquet,avro", "-sink-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("streambench: %v\n%s", err, out)
	}
	for _, format := range []string{"parquet", "avro"} {
		line := regexp.MustCompile(`sink \(` + format + `, file\): batches=\d+ files=(\d+) bytes/event=([0-9.]+) events=8000 .* ratio=[0-9.]+ cpuRatio=[0-9.]+ checked=each event once peakRSS=\d+kB`).FindStringSubmatch(string(out))
		if line == nil {
			t.Fatalf("no sink line for %s in the output:\n%s", format, out)
		}
		if files, perEvent := line[1], line[2]; files != "2" || perEvent == "0.0" {
			t.Errorf("%s: files=%s bytes/event=%s, want 2 files (one per partition) of some bytes\n%s", format, files, perEvent, out)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("the run left %d entries in -sink-dir, e.g. %s; want none", len(left), left[0].Name())
	}
}

// TestCheckSinkFiles checks files laid out by hand against a hub of 2
// partitions of 10 events: files that cover each partition once pass;
// a gap, an overlap, a partition without files or a stray file fail,
// naming what is wrong.
func TestCheckSinkFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "files", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()); hub.Close() })
	if err := localhub.Fill(ctx, hub.ConnectionString(), 2, 10, nil); err != nil {
		t.Fatal(err)
	}
	conf := eventhubs.NewConf(hub.ConnectionString())
	host, err := conf.NamespaceHost()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files []string // partition:from-until, or a stray path
		want  string   // in the error; "" for none
	}{
		{"once", []string{"0:0-10", "1:0-5", "1:5-10"}, ""},
		{"gap", []string{"0:0-10", "1:0-4", "1:5-10"}, "partition 1's files cover [0, 10), 9 events, gaps"},
		{"overlap", []string{"0:0-10", "1:0-6", "1:5-10"}, "partition 1's files cover [0, 10), 11 events"},
		{"missing", []string{"0:0-10"}, "files of 1 partitions and 0 strays"},
		{"stray", []string{"0:0-10", "1:0-10", "notes.txt"}, "1 strays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				writeLayoutFile(t, root, host, f)
			}
			files, _, err := checkSinkFiles(ctx, root, conf)
			switch {
			case tc.want == "" && (err != nil || files != len(tc.files)):
				t.Errorf("files=%d err=%v, want %d files and no error", files, err, len(tc.files))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err=%v, want one saying %q", err, tc.want)
			}
		})
	}
}

// writeLayoutFile writes an empty file under root: for "p:from-until" the
// file of partition p of hub "files" holding [from, until), else the path
// spec under the hub's directory.
func writeLayoutFile(t *testing.T, root, host, spec string) {
	t.Helper()
	p := filepath.Join(root, host, "files", spec)
	var id string
	var from, until int64
	if _, err := fmt.Sscanf(strings.Replace(spec, ":", " ", 1), "%s %d-%d", &id, &from, &until); err == nil {
		name := capture.FileName{Namespace: host, EventHub: "files", PartitionID: id, First: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			From: from, Until: until, Ext: ".avro"}
		p = filepath.Join(root, filepath.FromSlash(name.Path()))
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A PostgreSQL database that does not answer fails the run before the
// hub is filled, naming -postgres and its URL without the password.
func TestUnreachablePostgres(t *testing.T) {
	bin := buildStreambench(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-state-store", "postgres", "-postgres", "postgres://bench:S3cretPw@127.0.0.1:1/x?sslmode=disable").CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), "streambench: -postgres postgres://bench:xxxxx@127.0.0.1:1/x?sslmode=disable: ") ||
		!strings.Contains(string(out), "start PostgreSQL there") ||
		strings.Contains(string(out), "S3cretPw") || strings.Contains(string(out), "filling") {
		t.Errorf("%v, output %q; want exit status 1 and an error naming -postgres, its URL without the password and the cure, before any fill", err, out)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ q, want float64 }{{0.5, 5}, {0.95, 10}, {1, 10}, {0, 1}} {
		if got := quantile(xs, tc.q); got != tc.want {
			t.Errorf("quantile(1..10, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(none) = %v, want 0", got)
	}
}
