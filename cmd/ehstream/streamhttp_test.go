package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/monitor"
)

// runningCLI is an ehstream command running in-process in the background.
type runningCLI struct {
	out, errOut *lockedBuffer
	done        chan int
	stop        context.CancelFunc
}

// startCLI runs ehstream in-process until the test ends (or stopAndWait):
// cancelling its context stops `stream` after the running batch.
func startCLI(t *testing.T, args ...string) *runningCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningCLI{out: &lockedBuffer{}, errOut: &lockedBuffer{}, done: make(chan int, 1), stop: cancel}
	finished := make(chan struct{})
	go func() {
		r.done <- run(ctx, args, stdio{in: strings.NewReader(""), out: r.out, err: r.errOut})
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Errorf("ehstream %s did not stop within 30s", args[0])
		}
	})
	return r
}

// stopAndWait stops the command and returns its exit code.
func (r *runningCLI) stopAndWait(t *testing.T) int {
	t.Helper()
	r.stop()
	select {
	case code := <-r.done:
		r.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not stop within 30s:\n%s%s", r.out, r.errOut)
	}
	return -1
}

var statusLine = regexp.MustCompile(`(?m)^status: (http://\S+/)$`)

// statusURL waits for the command's "status: URL" line.
func (r *runningCLI) statusURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := statusLine.FindStringSubmatch(r.out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-r.done:
			r.done <- code
			t.Fatalf("ehstream exited (%d) before printing its status URL:\n%s%s", code, r.out, r.errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status URL within 30s:\n%s%s", r.out, r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// httpGet returns the status code and body of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func apiStatus(t *testing.T, base string) monitor.Status {
	t.Helper()
	code, body := httpGet(t, base+"api/status")
	var s monitor.Status
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("/api/status: %d %v: %s", code, err, body)
	}
	return s
}

// metricFamilies parses /metrics with Prometheus's own text parser.
func metricFamilies(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus's text format: %v", err)
	}
	return fams
}

// byPartition is a family's values by its partition label, and their sum.
func byPartition(fams map[string]*dto.MetricFamily, name string) (map[string]float64, float64) {
	out, total := map[string]float64{}, 0.0
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			for _, l := range m.Label {
				if l.GetName() == "partition" {
					out[l.GetValue()] = v
				}
			}
			total += v
		}
	}
	return out, total
}

func counter(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// poll calls cond until it returns true, failing the test after d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// /metrics, parsed as Prometheus parses it, agrees with the sink and with
// `ehstream offsets`: the events counter with the table's rows, and each
// partition's lag, next sequence number and hub end with offsets' row,
// while the job is behind and once it caught up.
func TestStreamMetricsMatchSinkAndOffsets(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2, ConsumerGroups: []string{"watch"}})
			cs := srv.ConnectionString("orders")
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			if err := <-sendRounds(ctx, cs, 2, 1000, 250); err != nil {
				t.Fatal(err)
			}
			table, job := uniqueName("events"), uniqueName("job")
			sk := sinkDB(t, spec, table)
			cmd := startCLI(t, "stream", "--connection-string", cs, "--sink", spec, "--table", table, "--job", job,
				"--batch-interval", "1s", "--max-rate-per-partition", "200", "--http", "127.0.0.1:0")
			base := cmd.statusURL(t)

			rows := func() map[string]float64 {
				out := map[string]float64{}
				rs, err := sk.DB.Query(fmt.Sprintf(`SELECT partition_id, count(*) FROM %s GROUP BY partition_id`, table))
				if err != nil {
					t.Fatal(err)
				}
				defer rs.Close()
				for rs.Next() {
					var p string
					var n float64
					if err := rs.Scan(&p, &n); err != nil {
						t.Fatal(err)
					}
					out[p] = n
				}
				return out
			}
			// compare checks the metrics against the sink and offsets right
			// after a batch completed, in the second before the next: it
			// returns false when a batch completed meanwhile.
			compare := func() bool {
				before := metricFamilies(t, base)
				table := rows()
				offs := offsetsRows(t, "--sink", spec, "--connection-string", cs, "--job", job, "--lag-consumer-group", "watch")
				after := metricFamilies(t, base)
				if counter(before, "ehstream_batches_total", "outcome", "completed") != counter(after, "ehstream_batches_total", "outcome", "completed") {
					return false
				}
				events, total := byPartition(after, "ehstream_events_read_total")
				lag, _ := byPartition(after, "ehstream_partition_lag_events")
				next, _ := byPartition(after, "ehstream_partition_next_sequence_number")
				end, _ := byPartition(after, "ehstream_partition_end_sequence_number")
				var sum float64
				for _, p := range []string{"0", "1"} {
					sum += table[p]
					if events[p] != table[p] {
						t.Errorf("partition %s: ehstream_events_read_total %v, the table holds %v rows", p, events[p], table[p])
					}
					o := offs[job+"/$default/"+p] // next, updated, hub end, lag, oldest unread
					if len(o) != 5 {
						t.Fatalf("offsets row of partition %s: %v", p, o)
					}
					if strconv.FormatFloat(next[p], 'f', -1, 64) != o[0] || strconv.FormatFloat(end[p], 'f', -1, 64) != o[2] || strconv.FormatFloat(lag[p], 'f', -1, 64) != o[3] {
						t.Errorf("partition %s: metrics next %v, hub end %v, lag %v; ehstream offsets says next %s, hub end %s, lag %s",
							p, next[p], end[p], lag[p], o[0], o[2], o[3])
					}
				}
				if total != sum {
					t.Errorf("ehstream_events_read_total sums to %v, the table holds %v rows", total, sum)
				}
				return true
			}
			waitBatch := func(cond func(s monitor.Status) bool) {
				poll(t, 60*time.Second, "a batch", func() bool { return cond(apiStatus(t, base)) })
			}

			// Behind: 200 of 1000 a batch.
			compared := false
			for try := 0; try < 3 && !compared; try++ {
				n := apiStatus(t, base).Batches[monitor.Completed]
				waitBatch(func(s monitor.Status) bool { return s.Batches[monitor.Completed] > max(n, 1) })
				if s := apiStatus(t, base); s.Lag == 0 {
					t.Fatalf("the job caught up before the test compared a lag: %+v", s)
				}
				compared = compare()
			}
			if !compared {
				t.Fatal("a batch completed during each of three comparisons")
			}
			// Between batches that are behind, the read-aheads hold the next
			// events.
			poll(t, 10*time.Second, "ehstream_read_ahead_bytes above 0", func() bool {
				_, held := byPartition(metricFamilies(t, base), "ehstream_read_ahead_bytes")
				return held > 0
			})
			// Caught up.
			waitBatch(func(s monitor.Status) bool { return s.Events == 2000 && s.Lag == 0 })
			if !compare() {
				t.Fatal("a batch completed during the comparison once caught up")
			}
			if code := cmd.stopAndWait(t); code != 0 {
				t.Fatalf("exit %d:\n%s%s", code, cmd.out, cmd.errOut)
			}
		})
	}
}

// A sink that fails (SQLite locked by another writer for longer than its
// busy timeout) makes /readyz answer 503 and shows the error; the job
// does not exit but runs the batch again, and once the lock is gone it
// commits and /readyz answers 200 again. Every event is in the table once.
func TestStreamReadyzFollowsTheSink(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2})
	cs := srv.ConnectionString("orders")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, 2, 100, 100); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.db")
	cmd := startCLI(t, "stream", "--connection-string", cs, "--sink", "sqlite:"+path, "--batch-interval", "100ms", "--http", "127.0.0.1:0")
	base := cmd.statusURL(t)
	ready := func() int { code, _ := httpGet(t, base+"readyz"); return code }
	poll(t, 30*time.Second, "200 from /readyz and 200 events", func() bool { return ready() == 200 && apiStatus(t, base).Events == 200 })

	// Another writer holds the database.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if err := <-sendRounds(ctx, cs, 2, 50, 50); err != nil {
		t.Fatal(err)
	}
	var st monitor.Status
	poll(t, 60*time.Second, "503 from /readyz after a failed batch", func() bool {
		st = apiStatus(t, base)
		return ready() == 503 && st.LastFailure != nil
	})
	if !strings.Contains(st.LastFailure.Error, "locked") || !st.LastFailure.Retrying || st.State != "running" || st.NotReady == "" {
		t.Errorf("status while the database is locked: %+v, failure %+v; want running, not ready, retrying a batch that failed on the lock", st, st.LastFailure)
	}
	if f := counter(metricFamilies(t, base), "ehstream_batches_total", "outcome", "failed"); f < 1 {
		t.Errorf("ehstream_batches_total{outcome=\"failed\"} = %v, want at least 1", f)
	}
	select {
	case code := <-cmd.done:
		t.Fatalf("the job exited (%d) on a locked database:\n%s%s", code, cmd.out, cmd.errOut)
	default:
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	poll(t, 60*time.Second, "200 from /readyz after the lock is gone", func() bool { return ready() == 200 })
	poll(t, 30*time.Second, "300 events", func() bool { return apiStatus(t, base).Events == 300 })
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 300 {
		t.Errorf("the table holds %d events (%v), want 300", n, err)
	}
	if code := cmd.stopAndWait(t); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, cmd.out, cmd.errOut)
	}
	if !strings.Contains(cmd.errOut.String(), "running its output again") {
		t.Errorf("the log does not say the batch ran again:\n%s", cmd.errOut)
	}
}

// freePorts returns a port p such that p and p+1 were both free.
func freePorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("found no two free ports in a row")
	return 0
}

// listenFallback takes the next port when one is taken, up to tries more,
// and says which it tried when all are.
func TestListenFallback(t *testing.T) {
	p := freePorts(t)
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ln, err := listenFallback(fmt.Sprintf("127.0.0.1:%d", p), 16)
	if err != nil {
		t.Fatal(err)
	}
	if got := ln.Addr().(*net.TCPAddr).Port; got != p+1 {
		t.Errorf("got port %d, want %d (the next after the taken %d)", got, p+1, p)
	}
	_, err = listenFallback(fmt.Sprintf("127.0.0.1:%d", p), 1)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("ports %d to %d", p, p+1)) {
		t.Errorf("with both ports taken: %v; want an error naming ports %d to %d", err, p, p+1)
	}
	ln.Close()
	any, err := listenFallback("127.0.0.1:0", 16)
	if err != nil {
		t.Fatal(err)
	}
	any.Close()
	for _, bad := range []string{"4040", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := listenFallback(bad, 16); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("--http %s: %v; want an error naming it", bad, err)
		}
	}
}

// Two `ehstream stream` processes given one --http port both come up: the
// second on the next port. --http "" serves nothing.
func TestStreamHTTPNextPort(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2, ConsumerGroups: []string{"a", "b"}})
	cs := srv.ConnectionString("orders")
	dir := t.TempDir()
	p := freePorts(t)
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	start := func(name string) *streamProcess {
		return startStreamProcess(t, bin, "--connection-string", cs, "--consumer-group", name, "--job", name,
			"--sink", "sqlite:"+filepath.Join(dir, name+".db"), "--http", addr)
	}
	first := start("a")
	first.waitFor(t, fmt.Sprintf("status: http://127.0.0.1:%d/", p))
	second := start("b")
	second.waitFor(t, fmt.Sprintf("status: http://127.0.0.1:%d/", p+1))
	for i, name := range []string{"a", "b"} {
		base := fmt.Sprintf("http://127.0.0.1:%d/", p+i)
		if code, body := httpGet(t, base+"healthz"); code != 200 {
			t.Errorf("%s /healthz: %d %s", base, code, body)
		}
		if s := apiStatus(t, base); s.Job != name {
			t.Errorf("%s serves job %q, want %q", base, s.Job, name)
		}
	}

	code, out, errOut := cli(t, "", "stream", "--connection-string", cs, "--job", "c", "--table", "c",
		"--sink", "sqlite:"+filepath.Join(dir, "c.db"), "--until-idle", "--http", "")
	if code != 0 || strings.Contains(out, "status:") {
		t.Errorf("--http \"\": exit %d, printed:\n%s%s", code, out, errOut)
	}
}
