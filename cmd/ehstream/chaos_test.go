package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/internal/pgtest"
)

// The chaos test (issue 16): `ehstream stream` writes into PostgreSQL
// while the emulator injects faults every 2 s, the emulator is killed -9
// and restarted on its data twice, PostgreSQL is restarted once and the job
// is killed -9 three times; at the end the table holds every event of the
// hub exactly once and the positions equal the partitions' ends.
//
//	EHSTREAM_TEST_POSTGRES=... go test -run Chaos -v ./cmd/ehstream/
//	EHSTREAM_TEST_POSTGRES=... go test ./cmd/ehstream/ -run Chaos -timeout 30m -v -chaos.duration 10m
//
// (-chaos.duration goes after the package: go test takes the flags it does
// not know, and all after them, as the test binary's.)
var chaosDuration = flag.Duration("chaos.duration", 30*time.Second, "how long TestChaos produces under faults (the issue's nominal run is 60s; CI runs the default)")

const (
	chaosHub        = "chaos"
	chaosPartitions = 4
	chaosBatchSize  = 25                    // events per send, per partition
	chaosSendEvery  = 50 * time.Millisecond // each partition's pace: 500 events/s
	chaosTable      = "events"
	chaosJob        = "chaos"
	chaosOtherGroup = "audit" // the hub's second consumer group, for a second job
)

// Kinds of disruption, as the stall report names them.
const (
	kindEmulatorKill = "emulator kill -9"
	kindPGRestart    = "postgres restart"
	kindJobKill      = "job kill -9"
)

// chaosFaults are the emulator's faults, injected in turn.
var chaosFaults = []struct{ kind, body string }{
	{"server-busy", `{"kind":"server-busy","duration":"1s"}`},
	{"detach-receivers", `{"kind":"detach-receivers"}`},
	{"drop-connections", `{"kind":"drop-connections"}`},
	{"delay-frames", `{"kind":"delay-frames","delay":"50ms","duration":"1s"}`},
	{"pause-partition", `{"kind":"pause-partition","hub":"` + chaosHub + `","duration":"1s"}`},
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test runs child processes for a while")
	}
	pgtest.URL(t) // the chaos test runs a PostgreSQL server of its own from the installation's binaries
	d := *chaosDuration
	if d < 10*time.Second {
		t.Fatalf("-chaos.duration %s: want at least 10s", d)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d+3*time.Minute)
	defer cancel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ports := chaosPorts(t, 3)
	pg := startPrivatePostgres(t, ports[0])
	emu := newChaosEmulator(t, bin, ports[1], ports[2])
	if err := emu.start(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(2)

	job := &chaosJobRuns{t: t, bin: bin, args: []string{"--connection-string", emu.connStr, "--sink", pg.URL,
		"--table", chaosTable, "--job", chaosJob, "--batch-interval", "200ms", "--http", ""}}
	defer func() {
		if t.Failed() {
			job.logRuns()
			t.Logf("emulator output (the end):\n%s", emu.output())
			t.Logf("PostgreSQL log (the end):\n%s", pg.log())
		}
	}()
	job.start()

	mon := &progressMonitor{}
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.run(monCtx, db) }()
	defer func() { stopMon(); <-monDone }()

	prodCtx, stopProducing := context.WithCancel(ctx)
	prod := &chaosProducer{connStr: emu.connStr}
	var producers sync.WaitGroup
	for p := range chaosPartitions {
		producers.Add(1)
		go func() { defer producers.Done(); prod.run(prodCtx, p) }()
	}
	defer func() { stopProducing(); producers.Wait() }()

	var events []disruption
	start := time.Now()
	for _, a := range chaosPlan(d) {
		select {
		case <-time.After(time.Until(start.Add(a.at))):
		case <-ctx.Done():
			t.Fatalf("the run's deadline passed before the %s at %s", a.kind, a.at)
		}
		job.restartIfExited()
		if a.kind == kindJobKill {
			job.waitWorking(ctx) // kill a working job: one that has written events
		}
		at := time.Now()
		switch a.kind {
		case kindJobKill:
			job.kill()
			job.start()
			t.Logf("%s: job killed (run %d had written events) and started again", at.Sub(start).Round(time.Millisecond), len(job.runs)-1)
		case kindEmulatorKill:
			emu.kill()
			if err := emu.start(); err != nil {
				t.Fatalf("the emulator did not start again on its data after kill -9: %v", err)
			}
			t.Logf("%s: emulator killed and restarted in %s", at.Sub(start).Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
		case kindPGRestart:
			if err := pg.restart(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: PostgreSQL restarted in %s", at.Sub(start).Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
		default:
			if err := emu.inject(ctx, a.body); err != nil {
				t.Fatalf("injecting %s: %v", a.kind, err)
			}
		}
		events = append(events, disruption{kind: a.kind, at: at})
	}
	select {
	case <-time.After(time.Until(start.Add(d))):
	case <-ctx.Done():
	}
	stopProducing()
	producers.Wait()
	producedAt := time.Now()

	// The hub's ends, then the job catching up to them.
	ends, err := partitionEnds(ctx, emu.connStr)
	if err != nil {
		t.Fatalf("reading the partitions' ends: %v", err)
	}
	ends = waitPositions(t, ctx, db, chaosJob, emu.connStr, ends, job.restartIfExited)
	caughtUp := time.Since(producedAt)
	stopMon()
	<-monDone
	job.stop(ctx)

	tally := checkAgainstHub(t, ctx, db, chaosTable, ends)
	total, endSum, allDups, allGaps := tally.rows, tally.end, tally.dups, tally.gaps
	found := checkAcked(t, ctx, db, chaosTable, prod)
	if prod.acked.Load() == 0 || slices.Contains(slices.Collect(maps.Values(ends)), 0) {
		t.Errorf("the producer had %d events acknowledged and the partitions end at %v: the run tested nothing (last send error: %v)", prod.acked.Load(), ends, prod.lastErr.Load())
	}

	// The report.
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run of %s (total %s, the job caught up %s after the producer stopped)\n", d, time.Since(began).Round(time.Second), caughtUp.Round(time.Millisecond))
	fmt.Fprintf(&b, "  produced %d events in sends, %d acknowledged (%d send errors); the hub holds %d\n",
		prod.attempted.Load(), prod.acked.Load(), prod.errors.Load(), endSum)
	fmt.Fprintf(&b, "  table: %d rows, %d duplicate and %d missing sequence numbers; acknowledged events missing: %d; events stored twice by the hub (a producer's retried send): %d\n",
		total, allDups, allGaps, found.missing, found.resent)
	fmt.Fprintf(&b, "  job runs: %d (%d killed -9, %d exited on their own)\n", len(job.runs), job.killed, job.unexpected)
	b.WriteString(stallReport(events, mon.points()))
	fmt.Fprintf(&b, "  the emulator's fault counts since its last start: %s\n", emu.faultStats())
	t.Log(b.String())
}

// chaosAction is a disruption of the schedule, at its time from the start.
type chaosAction struct {
	at   time.Duration
	kind string
	body string // a fault's JSON
}

// chaosPlan is the schedule of a run of d: the disruptions at their
// fractions of the run, and a fault every 2 s unless one of them is within
// a second (each stall then belongs to one cause); in order of time.
func chaosPlan(d time.Duration) []chaosAction {
	var plan []chaosAction
	for _, f := range []float64{0.15, 0.45, 0.75} {
		plan = append(plan, chaosAction{at: time.Duration(f * float64(d)), kind: kindJobKill})
	}
	for _, f := range []float64{0.3, 0.6} {
		plan = append(plan, chaosAction{at: time.Duration(f * float64(d)), kind: kindEmulatorKill})
	}
	plan = append(plan, chaosAction{at: d / 2, kind: kindPGRestart})
	disruptions := slices.Clone(plan)
	for i, at := 0, 2*time.Second; at < d-time.Second; at += 2 * time.Second {
		if slices.ContainsFunc(disruptions, func(a chaosAction) bool { return (a.at - at).Abs() < time.Second }) {
			continue
		}
		f := chaosFaults[i%len(chaosFaults)]
		plan = append(plan, chaosAction{at: at, kind: f.kind, body: f.body})
		i++
	}
	slices.SortFunc(plan, func(a, b chaosAction) int { return cmp.Compare(a.at, b.at) })
	return plan
}

// chaosEmulator is `ehstream emulator` as a child process that the test
// kills and starts again on the same ports and data.
type chaosEmulator struct {
	bin, data, config  string
	amqpPort, httpPort int
	connStr            string
	cmd                *exec.Cmd
	exited             chan struct{}
	out                *lockedBuffer // the current run's stdout and stderr
}

func newChaosEmulator(t *testing.T, bin string, amqpPort, httpPort int) *chaosEmulator {
	dir := t.TempDir()
	e := &chaosEmulator{bin: bin, data: filepath.Join(dir, "data"), config: filepath.Join(dir, "Config.json"),
		amqpPort: amqpPort, httpPort: httpPort}
	cfg := fmt.Sprintf(`{"UserConfig":{"NamespaceConfig":[{"Type":"EventHub","Name":"chaosns","Entities":[
		{"Name":%q,"PartitionCount":%d,"ConsumerGroups":[{"Name":%q}]}]}]}}`, chaosHub, chaosPartitions, chaosOtherGroup)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.connStr = fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;EntityPath=%s",
		e.amqpPort, chaosHub)
	t.Cleanup(e.kill)
	return e
}

// start runs the emulator and waits for its connection string line.
func (e *chaosEmulator) start() error {
	cmd := exec.Command(e.bin, "emulator", "--listen", fmt.Sprintf("127.0.0.1:%d", e.amqpPort), "--data", e.data,
		"--http", fmt.Sprintf("127.0.0.1:%d", e.httpPort), "--config", e.config)
	out := &lockedBuffer{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return err
	}
	e.cmd, e.out, e.exited = cmd, out, make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
			if !seen && strings.HasPrefix(sc.Text(), "connection string: ") {
				seen = true
				close(ready)
			}
		}
		cmd.Wait()
		close(e.exited)
	}()
	select {
	case <-ready:
		return nil
	case <-e.exited:
		return fmt.Errorf("ehstream emulator exited before it was ready:\n%s", out.String())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("ehstream emulator was not ready within 60s:\n%s", out.String())
	}
}

// kill ends the emulator with SIGKILL and waits for it.
func (e *chaosEmulator) kill() {
	if e.cmd == nil {
		return
	}
	e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

func (e *chaosEmulator) output() string {
	if e.out == nil {
		return ""
	}
	return tail(e.out.String(), 4000)
}

// inject posts a fault to the admin API, trying again while the emulator
// is out of reach (it may be starting).
func (e *chaosEmulator) inject(ctx context.Context, body string) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/faults", e.httpPort)
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err == nil {
			reply, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("POST /faults %s: %s: %s", body, resp.Status, reply)
			}
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// faultStats is GET /faults's "stats", compacted.
func (e *chaosEmulator) faultStats() string {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/faults", e.httpPort))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var reply struct{ Stats json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return err.Error()
	}
	var compact bytes.Buffer
	json.Compact(&compact, reply.Stats)
	return compact.String()
}

// chaosJobRuns is `ehstream stream`, run again after each kill.
type chaosJobRuns struct {
	t                  *testing.T
	bin                string
	args               []string
	runs               []*streamProcess
	cur                *streamProcess
	killed, unexpected int
}

func (j *chaosJobRuns) start() {
	j.cur = startStreamProcess(j.t, j.bin, j.args...)
	j.runs = append(j.runs, j.cur)
}

// restartIfExited fails the test if the job exited on its own (it should
// ride out every fault), and runs it again to go on.
func (j *chaosJobRuns) restartIfExited() {
	select {
	case err := <-j.cur.exited:
		j.unexpected++
		j.t.Errorf("ehstream stream (run %d) exited on its own (%v):\n%s", len(j.runs), err, tail(j.cur.output(), 4000))
		j.start()
	default:
	}
}

// waitWorking waits until the current run has written events.
func (j *chaosJobRuns) waitWorking(ctx context.Context) {
	deadline := time.Now().Add(90 * time.Second)
	for !wroteEvents.MatchString(j.cur.output()) {
		j.restartIfExited()
		if time.Now().After(deadline) || ctx.Err() != nil {
			j.t.Fatalf("ehstream stream (run %d) wrote no events within 90s of its start: is it wedged?\n%s", len(j.runs), tail(j.cur.output(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (j *chaosJobRuns) kill() {
	if err := j.cur.cmd.Process.Kill(); err != nil {
		j.t.Fatal(err)
	}
	<-j.cur.exited
	j.killed++
}

// stop ends the job as a person would, with SIGTERM: it must exit 0.
func (j *chaosJobRuns) stop(ctx context.Context) {
	j.restartIfExited()
	if err := j.cur.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		j.t.Fatal(err)
	}
	select {
	case err := <-j.cur.exited:
		if err != nil {
			j.t.Errorf("ehstream stream exited with %v after SIGTERM:\n%s", err, tail(j.cur.output(), 4000))
		}
	case <-time.After(60 * time.Second):
		j.t.Fatalf("ehstream stream still running 60s after SIGTERM:\n%s", tail(j.cur.output(), 4000))
	case <-ctx.Done():
		j.t.Fatalf("ehstream stream did not stop after SIGTERM before the deadline")
	}
}

func (j *chaosJobRuns) logRuns() {
	for i, r := range j.runs {
		j.t.Logf("job run %d (the end):\n%s", i+1, tail(r.output(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// chaosProducer sends batches of events whose bodies are unique ids,
// chaos-p<partition>-b<send>-e<index>, to one partition per goroutine, and
// records the sends the hub acknowledged. A failed send is not retried
// with the same ids: it may have landed, and then it is a distinct event.
type chaosProducer struct {
	connStr                  string
	attempted, acked, errors atomic.Int64
	mu                       sync.Mutex
	ackedSends               [chaosPartitions][]int // the acknowledged sends' numbers
	lastErr                  atomic.Value
}

func (p *chaosProducer) run(ctx context.Context, partition int) {
	var client *azeventhubs.ProducerClient
	defer func() {
		if client != nil {
			client.Close(context.Background())
		}
	}()
	pid := strconv.Itoa(partition)
	tick := time.NewTicker(chaosSendEvery)
	defer tick.Stop()
	for send := 0; ; send++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if client == nil {
			c, err := azeventhubs.NewProducerClientFromConnectionString(p.connStr, "", &azeventhubs.ProducerClientOptions{
				RetryOptions: azeventhubs.RetryOptions{MaxRetries: 3, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}})
			if err != nil {
				p.fail(err)
				continue
			}
			client = c
		}
		sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		batch, err := client.NewEventDataBatch(sendCtx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(pid)})
		if err == nil {
			for i := range chaosBatchSize {
				if err = batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "chaos-p%d-b%d-e%d", partition, send, i)}, nil); err != nil {
					break
				}
			}
		}
		if err == nil {
			p.attempted.Add(chaosBatchSize)
			err = client.SendEventDataBatch(sendCtx, batch, nil)
		}
		cancel()
		if ctx.Err() != nil {
			return // stopping: this send's fate is unknown, and that is fine
		}
		if err != nil {
			p.fail(err)
			client.Close(context.Background())
			client = nil
			continue
		}
		p.acked.Add(chaosBatchSize)
		p.mu.Lock()
		p.ackedSends[partition] = append(p.ackedSends[partition], send)
		p.mu.Unlock()
	}
}

func (p *chaosProducer) fail(err error) {
	p.errors.Add(1)
	p.lastErr.Store(err.Error())
}

// partitionEnds reads each partition's last sequence number + 1.
func partitionEnds(ctx context.Context, connStr string) (map[string]int64, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ends, err := tryPartitionEnds(ctx, connStr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return ends, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tryPartitionEnds(ctx context.Context, connStr string) (map[string]int64, error) {
	client, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		return nil, err
	}
	defer client.Close(context.Background())
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ends := map[string]int64{}
	for p := range chaosPartitions {
		pid := strconv.Itoa(p)
		props, err := client.GetPartitionProperties(ctx, pid, nil)
		if err != nil {
			return nil, err
		}
		ends[pid] = 0
		if !props.IsEmpty {
			ends[pid] = props.LastEnqueuedSequenceNumber + 1
		}
	}
	return ends, nil
}

// waitPositions polls job's stored positions until they equal the hub's
// ends, calling each time restart (which runs again what exited), and
// returns the ends. A send cancelled when the producers stopped can still
// land, after ends were read: they are read again when a position passes
// them.
func waitPositions(t *testing.T, ctx context.Context, db *sql.DB, job, connStr string, ends map[string]int64, restart ...func()) map[string]int64 {
	t.Helper()
	for {
		for _, r := range restart {
			r()
		}
		positions, err := jobPositions(ctx, db, job)
		if err == nil && maps.Equal(positions, ends) {
			return ends
		}
		if err == nil && beyond(positions, ends) {
			if later, err := tryPartitionEnds(ctx, connStr); err == nil {
				ends = later
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("job %s: the stored positions %v did not reach the partitions' ends %v before the deadline (last error: %v)", job, positions, ends, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// beyond reports a position past its partition's end.
func beyond(positions, ends map[string]int64) bool {
	for p, n := range positions {
		if n > ends[p] {
			return true
		}
	}
	return false
}

// jobPositions reads a job's positions from the offsets table.
func jobPositions(ctx context.Context, db *sql.DB, job string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT partition_id, next_seq FROM ehstream_offsets WHERE job = $1`, job)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, rows.Err()
}

// hubTally is a table held against the hub's partitions.
type hubTally struct{ rows, end, dups, gaps int64 }

// checkAgainstHub fails unless table holds every sequence number 0..end-1
// of each partition once, and sums what it found.
func checkAgainstHub(t *testing.T, ctx context.Context, db *sql.DB, table string, ends map[string]int64) hubTally {
	t.Helper()
	var tally hubTally
	for p := range chaosPartitions {
		pid := strconv.Itoa(p)
		var count, distinct, lo, hi int64
		err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT sequence_number), coalesce(min(sequence_number), -1), coalesce(max(sequence_number), -1)
			FROM `+table+` WHERE partition_id = $1`, pid).Scan(&count, &distinct, &lo, &hi)
		if err != nil {
			t.Fatal(err)
		}
		end := ends[pid]
		dups, gaps := count-distinct, end-distinct
		tally.rows, tally.end, tally.dups, tally.gaps = tally.rows+count, tally.end+end, tally.dups+dups, tally.gaps+gaps
		if dups != 0 || gaps != 0 || lo != min(0, end-1) || hi != end-1 {
			t.Errorf("table %s partition %s: %d rows, %d distinct sequence numbers in %d..%d: %d duplicates, %d missing; want 0..%d once each",
				table, pid, count, distinct, lo, hi, dups, gaps, end-1)
		}
	}
	return tally
}

type ackCheck struct{ missing, resent int }

// checkAcked reads every body in the table: each acknowledged event must be
// there, in its partition. An id twice is a send the SDK retried after
// the hub had stored it (distinct events to the hub), not a job's
// duplicate, which the sequence numbers show.
func checkAcked(t *testing.T, ctx context.Context, db *sql.DB, table string, prod *chaosProducer) ackCheck {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT partition_id, body FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type key struct{ p, send int }
	seen := map[key]uint32{} // a bit per event index
	var res ackCheck
	var pid string
	var body []byte
	for rows.Next() {
		if err := rows.Scan(&pid, &body); err != nil {
			t.Fatal(err)
		}
		var p, send, i int
		if _, err := fmt.Sscanf(string(body), "chaos-p%d-b%d-e%d", &p, &send, &i); err != nil || i < 0 || i >= chaosBatchSize {
			t.Errorf("a row in partition %s has body %q, which the producer did not send", pid, body)
			continue
		}
		if strconv.Itoa(p) != pid {
			t.Errorf("event %s is in partition %s", body, pid)
		}
		k := key{p, send}
		if seen[k]&(1<<i) != 0 {
			res.resent++
		}
		seen[k] |= 1 << i
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := uint32(1)<<chaosBatchSize - 1
	prod.mu.Lock()
	defer prod.mu.Unlock()
	for p, sends := range prod.ackedSends {
		for _, s := range sends {
			if got := seen[key{p, s}]; got != all {
				res.missing += chaosBatchSize - bitsSet(got)
				if res.missing <= 10*chaosBatchSize {
					t.Errorf("acknowledged send %d to partition %d: %d of its %d events are in the table", s, p, bitsSet(got), chaosBatchSize)
				}
			}
		}
	}
	if res.missing > 0 {
		t.Errorf("%d acknowledged events are missing from the table", res.missing)
	}
	return res
}

func bitsSet(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// progressMonitor polls the stored positions and keeps the times of the
// commits that moved them, that is that added rows: a position's
// updated_ms, which the job sets in the batch's transaction. It tolerates
// errors (the table not yet made, PostgreSQL restarting).
type progressMonitor struct {
	mu   sync.Mutex
	pts  []time.Time
	seen map[int64]bool // the updated_ms in pts
	last map[string]int64
}

func (m *progressMonitor) run(ctx context.Context, db *sql.DB) {
	m.last, m.seen = map[string]int64{}, map[int64]bool{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.poll(ctx, db)
	}
}

func (m *progressMonitor) poll(ctx context.Context, db *sql.DB) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT partition_id, next_seq, updated_ms FROM ehstream_offsets WHERE job = $1`, chaosJob)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		var next, ms int64
		if rows.Scan(&p, &next, &ms) != nil {
			return
		}
		m.mu.Lock()
		if next > m.last[p] {
			m.last[p] = next
			if !m.seen[ms] {
				m.seen[ms] = true
				m.pts = append(m.pts, time.UnixMilli(ms))
			}
		}
		m.mu.Unlock()
	}
}

// points are the commits' times, in order.
func (m *progressMonitor) points() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	pts := slices.Clone(m.pts)
	slices.SortFunc(pts, time.Time.Compare)
	return pts
}

// disruption is a fault, kill or restart, and when it began.
type disruption struct {
	kind string
	at   time.Time
}

// stallReport is, for each kind of disruption, the longest time from one
// to the next commit that added rows; and the longest time between two
// such commits in the whole run.
func stallReport(events []disruption, progress []time.Time) string {
	type stat struct {
		n, never     int
		longest, sum time.Duration
	}
	stats := map[string]*stat{}
	var kinds []string
	for _, e := range events {
		s := stats[e.kind]
		if s == nil {
			s = &stat{}
			stats[e.kind] = s
			kinds = append(kinds, e.kind)
		}
		s.n++
		i, _ := slices.BinarySearchFunc(progress, e.at, func(p, at time.Time) int { return p.Compare(at) })
		if i == len(progress) {
			s.never++
			continue
		}
		stall := progress[i].Sub(e.at)
		s.sum += stall
		s.longest = max(s.longest, stall)
	}
	sort.Slice(kinds, func(i, j int) bool { return stats[kinds[i]].longest > stats[kinds[j]].longest })
	var b bytes.Buffer
	b.WriteString("  stall = time from the disruption to the job's next commit that added rows:\n")
	fmt.Fprintf(&b, "    %-20s %5s %10s %10s\n", "disruption", "count", "longest", "mean")
	for _, k := range kinds {
		s := stats[k]
		mean := "-"
		if s.n > s.never {
			mean = (s.sum / time.Duration(s.n-s.never)).Round(time.Millisecond).String()
		}
		line := fmt.Sprintf("    %-20s %5d %10s %10s", k, s.n, s.longest.Round(time.Millisecond), mean)
		if s.never > 0 {
			line += fmt.Sprintf("  (%d with no commit after)", s.never)
		}
		b.WriteString(line + "\n")
	}
	var gap time.Duration
	var gapAt time.Time
	for i := 1; i < len(progress); i++ {
		if g := progress[i].Sub(progress[i-1]); g > gap {
			gap, gapAt = g, progress[i-1]
		}
	}
	if len(progress) > 0 {
		fmt.Fprintf(&b, "  longest time between two commits that added rows: %s (from %s); %d such commits seen\n",
			gap.Round(time.Millisecond), gapAt.Format("15:04:05.000"), len(progress))
	}
	return b.String()
}
