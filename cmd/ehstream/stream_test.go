package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/internal/pgtest"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
)

// sinkCase is a database the stream tests write to.
type sinkCase struct {
	name string
	spec func(t *testing.T) string // the --sink value
}

var sinkCases = []sinkCase{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "stream.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
}

// uniqueName keeps tests that share a PostgreSQL database apart.
func uniqueName(prefix string) string {
	b := make([]byte, 5)
	crand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// sinkDB opens the sink a test wrote to, and drops its table after.
func sinkDB(t *testing.T, spec, table string) *sqlsink.Sink {
	t.Helper()
	sk, err := sqlsink.Open(context.Background(), spec, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sk.Dialect == offsets.PostgreSQL {
			sk.DB.Exec("DROP TABLE " + table)
		}
		sk.Close()
	})
	return sk
}

// checkArchive fails unless the table holds each partition's [0, n) once
// and the job's stored positions are n.
func checkArchive(t *testing.T, sk *sqlsink.Sink, table string, job offsets.Job, partitions, n int) {
	t.Helper()
	for p := range partitions {
		var count, distinct, lo, hi int64
		err := sk.DB.QueryRow(fmt.Sprintf(`SELECT count(*), count(DISTINCT sequence_number), coalesce(min(sequence_number), -1), coalesce(max(sequence_number), -1)
			FROM %s WHERE eventhub = '%s' AND partition_id = '%d'`, table, job.EventHub, p)).Scan(&count, &distinct, &lo, &hi)
		if err != nil {
			t.Fatal(err)
		}
		if count != int64(n) || distinct != int64(n) || lo != 0 || hi != int64(n-1) {
			t.Errorf("partition %d: %d rows, %d distinct, sequence numbers %d..%d; want %d rows, 0..%d", p, count, distinct, lo, hi, n, n-1)
		}
	}
	ps, err := sk.Store.Positions(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != partitions {
		t.Errorf("%d stored positions, want %d", len(ps), partitions)
	}
	for _, p := range ps {
		if p.Next != int64(n) {
			t.Errorf("partition %s: stored position %d, want %d (the last sequence number + 1)", p.Partition, p.Next, n)
		}
	}
}

// sendRounds writes n events to each partition, in rounds of step, from a
// goroutine.
func sendRounds(ctx context.Context, connStr string, partitions, n, step int) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- localhub.Fill(ctx, connStr, partitions, n, &localhub.FillOptions{Step: step, Properties: true})
	}()
	return done
}

// `ehstream stream` killed with SIGKILL at random moments while a producer
// writes 50,000 events, restarted each time: the table ends with every
// event exactly once and the stored positions at the partitions' ends.
func TestStreamSurvivesSIGKILL(t *testing.T) {
	const partitions, perPartition = 4, 12_500
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			bin, err := buildBinary()
			if err != nil {
				t.Fatal(err)
			}
			srv := startInProcess(t, emulator.HubConfig{Name: "crash", PartitionCount: partitions})
			connStr := srv.ConnectionString("crash")
			ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
			defer cancel()
			table, jobName := uniqueName("events"), uniqueName("job")
			produced := sendRounds(ctx, connStr, partitions, perPartition, 250)
			var producerErr error
			producerDone := make(chan struct{})
			go func() { producerErr = <-produced; close(producerDone) }()

			var runs []*streamProcess
			start := func(extra ...string) *streamProcess {
				p := startStreamProcess(t, bin, append([]string{"--connection-string", connStr, "--sink", spec,
					"--table", table, "--job", jobName, "--batch-interval", "100ms", "--max-rate-per-partition", "200",
					"--operation-timeout", "20s", "--receiver-timeout", "5s"}, extra...)...)
				runs = append(runs, p)
				return p
			}
			defer func() {
				if t.Failed() {
					for i, r := range runs {
						t.Logf("run %d:\n%s", i+1, r.output())
					}
				}
			}()

			const kills = 8
			for range kills {
				p := start()
				// Once the run has started batching, a random moment: during
				// or between batches, mid-transaction or not. Started
				// batching: a batch read events; or, once the producer is
				// done and the hub may hold nothing new for the run (whose
				// empty batches print nothing for 30 s), it has started.
				p.waitUntil(t, "a batch that read events (or, the producer done, its start line)", func(out string) bool {
					select {
					case <-producerDone:
						return wroteEvents.MatchString(out) || startedRE.MatchString(out)
					default:
						return wroteEvents.MatchString(out)
					}
				})
				select {
				case err := <-p.exited:
					t.Fatalf("ehstream stream exited before it was killed: %v", err)
				case <-time.After(time.Duration(rand.IntN(700)) * time.Millisecond):
				}
				if err := p.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				<-p.exited
			}
			if <-producerDone; producerErr != nil {
				t.Fatal(producerErr)
			}
			last := start("--until-idle")
			select {
			case err := <-last.exited:
				if err != nil {
					t.Fatalf("the last run: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("the last run did not finish")
			}
			// The kills must have hit a working job, not an idle one.
			working := 0
			for _, r := range runs[:kills] {
				if wroteEvents.MatchString(r.output()) {
					working++
				}
			}
			if working < 5 {
				t.Fatalf("only %d of %d killed runs had written events: the test did not kill a working job 5 times", working, kills)
			}
			t.Logf("%d kills, %d of them after the run had written events", kills, working)

			sk := sinkDB(t, spec, table)
			job, err := offsets.JobFor(jobName, eventhubs.NewConf(connStr))
			if err != nil {
				t.Fatal(err)
			}
			checkArchive(t, sk, table, job, partitions, perPartition)
		})
	}
}

var (
	wroteEvents = regexp.MustCompile(`(?m)^batch \d+: [1-9]\d* events`)
	startedRE   = regexp.MustCompile(`(?m)^streaming .* resume from stored positions$`)
)

// streamProcess is `ehstream stream` running as a child process.
type streamProcess struct {
	cmd    *exec.Cmd
	exited chan error
	out    lockedBuffer // stdout and stderr
}

func startStreamProcess(t testing.TB, bin string, args ...string) *streamProcess {
	t.Helper()
	p := &streamProcess{cmd: exec.Command(bin, append([]string{"stream"}, args...)...), exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	go func() { p.exited <- p.cmd.Wait(); close(gone) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-gone })
	return p
}

func (p *streamProcess) output() string { return p.out.String() }

// waitFor polls the output for s; the process must not exit meanwhile.
func (p *streamProcess) waitFor(t testing.TB, s string) {
	t.Helper()
	p.waitUntil(t, strconv.Quote(s), func(out string) bool { return strings.Contains(out, s) })
}

// waitUntil polls the output until ok holds; the process must not exit
// meanwhile.
func (p *streamProcess) waitUntil(t testing.TB, what string, ok func(out string) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok(p.output()) {
		select {
		case err := <-p.exited:
			t.Fatalf("ehstream stream exited (%v) before printing %s:\n%s", err, what, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ehstream stream did not print %s within 60s:\n%s", what, p.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The README's first command: no connection string, so a local Event Hubs
// with sample telemetry; each run archives what is new.
func TestStreamEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	spec := "sqlite:" + filepath.Join(dir, "ehstream.db")
	t.Setenv(envConnectionString, "")
	for run := 1; run <= 2; run++ {
		code, out, errOut := cli(t, "", "stream", "--until-idle", "--data", filepath.Join(dir, "data"), "--sink", spec, "--batch-interval", "20ms")
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s%s", run, code, out, errOut)
		}
		if !strings.Contains(out, "wrote 5000 events") || !strings.Contains(out, "batch 1: ") {
			t.Fatalf("run %d printed:\n%s", run, out)
		}
	}
	sk := sinkDB(t, spec, "events")
	var n int
	if err := sk.DB.QueryRow(`SELECT count(*) FROM events WHERE json_extract(properties, '$.kind') = 'reading'`).Scan(&n); err != nil || n != 10000 {
		t.Fatalf("the table holds %d readings (%v), want 10000 after two runs", n, err)
	}
	code, out, _ := cli(t, "", "offsets", "--sink", spec)
	if code != 0 || strings.Count(out, "archive") != localPartitions {
		t.Fatalf("offsets: exit %d\n%s", code, out)
	}
}

// Against a hub: ehstream offsets shows the stored positions and the lag.
func TestStreamAndOffsets(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			b := streamBacklog(t, ctx, sc.spec(t))
			if !strings.Contains(b.out, "lag 400") {
				t.Fatalf("stream printed no lag of 400:\n%s", b.out)
			}
			spec, cs, sk, table, job := b.spec, b.cs, b.sk, b.table, b.job
			if err := <-sendRounds(ctx, cs, 2, 5, 5); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := cli(t, "", "offsets", "--connection-string", cs, "--sink", spec, "--job", job)
			if code != 0 {
				t.Fatalf("offsets: exit %d\n%s", code, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.Contains(lines[0], "LAG") {
				t.Fatalf("offsets printed:\n%s", out)
			}
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				if f[len(f)-5] != "300" || f[len(f)-3] != "305" || f[len(f)-2] != "5" {
					t.Errorf("line %q: want next 300, hub end 305, lag 5", l)
				}
			}
			jb, _ := offsets.JobFor(job, eventhubs.NewConf(cs))
			checkArchive(t, sk, table, jb, 2, 300)
		})
	}
}

// --read-ahead: the job plans from what its receivers read ahead, and
// still writes every event once, in ranges that chain.
func TestStreamReadAhead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := streamBacklog(t, ctx, sinkCases[0].spec(t), "--read-ahead", "1048576")
	jb, _ := offsets.JobFor(b.job, eventhubs.NewConf(b.cs))
	checkArchive(t, b.sk, b.table, jb, 2, 300)
}

// backlogRun is a job streamBacklog ran.
type backlogRun struct {
	spec, cs, table, job, out string
	sk                        *sqlsink.Sink
}

// streamBacklog sends 300 events to each of hub "orders"' 2 partitions
// and streams them into spec, with args added to the command line, 100
// per partition per batch until a batch reads nothing.
func streamBacklog(t *testing.T, ctx context.Context, spec string, args ...string) backlogRun {
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2})
	b := backlogRun{spec: spec, cs: srv.ConnectionString("orders"), table: uniqueName("events"), job: uniqueName("job")}
	if err := <-sendRounds(ctx, b.cs, 2, 300, 100); err != nil {
		t.Fatal(err)
	}
	b.sk = sinkDB(t, spec, b.table)
	code, out, errOut := cli(t, "", append([]string{"stream", "--connection-string", b.cs, "--sink", spec, "--table", b.table, "--job", b.job,
		"--until-idle", "--batch-interval", "10ms", "--max-rate-per-partition", "100"}, args...)...)
	if code != 0 || !strings.Contains(out, "wrote 600 events") {
		t.Fatalf("stream: exit %d\n%s%s", code, out, errOut)
	}
	b.out = out
	return b
}

func TestStreamBadFlags(t *testing.T) {
	t.Setenv(envConnectionString, "")
	cs := "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=TOPSECRETKEY;UseDevelopmentEmulator=true;EntityPath=h"
	cases := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--starting-position", "yesterday"}, 2, "yesterday"},
		{[]string{"--batch-interval", "0s"}, 2, "--batch-interval 0s"},
		{[]string{"--sink", "mysql://x"}, 2, "mysql://x"},
		{[]string{"--sink", "sqlite:"}, 2, "needs a file"},
		{[]string{"--table", "a;b"}, 2, `"a;b"`},
		{[]string{"--max-rate-per-partition", "0"}, 2, "0"},
		{[]string{"--sink", "postgres://u:PGSECRET@127.0.0.1:1/db?connect_timeout=2"}, 1, "127.0.0.1:1"},
		{[]string{"--ownership", "mysql://u:PGSECRET@x/db"}, 2, "--ownership: ownership: store mysql://u:xxxxx@x/db"},
		{[]string{"--ownership", "sqlite:"}, 2, "needs a file"},
		{[]string{"--ownership", "blob:AccountKey=TOPSECRETKEY"}, 2, "CONTAINER"},
		{[]string{"--ownership", "sqlite:o.db", "--owner-id", " "}, 2, "--owner-id"},
		{[]string{"--ownership", "sqlite:o.db", "--ownership-interval", "0s"}, 2, "--ownership-interval 0s"},
		{[]string{"--ownership", "sqlite:o.db", "--ownership-interval", "2s", "--ownership-expiration", "1s"}, 2, "must exceed --ownership-interval 2s"},
		{[]string{"--ownership", "sqlite:o.db", "--ownership-strategy", "fair"}, 2, `"fair"`},
		{[]string{"--sink", "sqlite:x.db", "--format", "avro", "--roll-size", "1MiB"}, 2, "--format, --roll-size with a SQL --sink"},
	}
	for _, c := range cases {
		args := append([]string{"stream", "--connection-string", cs}, c.args...)
		code, out, errOut := cli(t, "", args...)
		if code != c.code || !strings.Contains(errOut, c.says) {
			t.Errorf("ehstream %v: exit %d, stderr %q; want exit %d saying %q", c.args, code, errOut, c.code, c.says)
		}
		if strings.Contains(out+errOut, "TOPSECRETKEY") || strings.Contains(out+errOut, "PGSECRET") {
			t.Errorf("ehstream %v printed a secret:\n%s%s", c.args, out, errOut)
		}
	}
	// --hub with no connection string names a hub the local Event Hubs
	// does not serve: refused before the local hub starts or sends.
	dir := t.TempDir()
	code, out, errOut := cli(t, "", "stream", "--hub", "foo", "--data", filepath.Join(dir, "data"), "--sink", "sqlite:"+filepath.Join(dir, "x.db"), "--until-idle")
	if code != 2 || !strings.Contains(errOut, "--hub foo") {
		t.Errorf("stream --hub foo without a connection string: exit %d, stderr %q; want exit 2 naming --hub foo", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("stream --hub foo without a connection string left %d files behind (%s): it started the local hub or made the database", len(entries), out)
	}
}

// The settings of the job's Conf and batch clock are checked by their
// packages (Conf.Validate, streaming.NewContext); the CLI names the flag.
// With no connection string they are checked before the local Event Hubs
// starts: a bad one starts nothing and leaves no file behind.
func TestStreamBadSettingStartsNothing(t *testing.T) {
	t.Setenv(envConnectionString, "")
	cases := []struct {
		args []string
		says string
	}{
		{[]string{"--max-rate-per-partition", "0"}, "--max-rate-per-partition 0: "},
		{[]string{"--receiver-timeout", "-1s"}, "--receiver-timeout -1s: "},
		{[]string{"--receiver-timeout", "0s"}, "--receiver-timeout 0s: want a positive duration"},
		{[]string{"--operation-timeout", "0s"}, "--operation-timeout 0s: want a positive duration"},
		{[]string{"--operation-timeout", "-1s"}, "--operation-timeout -1s: "},
		{[]string{"--batch-interval", "-1s"}, "--batch-interval -1s: "},
		{[]string{"--read-ahead", "-1"}, "--read-ahead -1: ReadAhead = -1: want at least 0 bytes"},
		{[]string{"--consumer-group", " "}, "consumer group is empty"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		args := append([]string{"stream", "--data", filepath.Join(dir, "data"), "--sink", "sqlite:" + filepath.Join(dir, "x.db"), "--http", "", "--until-idle"}, c.args...)
		code, out, errOut := cli(t, "", args...)
		if code != 2 || !strings.Contains(errOut, c.says) {
			t.Errorf("ehstream %v: exit %d, stderr %q; want exit 2 saying %q", c.args, code, errOut, c.says)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("ehstream %v left %d files behind (%s): it started the local hub or made the database", c.args, len(entries), out)
		}
	}
}

// Ctrl-C (SIGINT) stops `ehstream stream` after the running batch: it
// exits 0, and what it wrote matches its stored positions.
func TestStreamStopsCleanlyOnSIGINT(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "sigint", PartitionCount: 2})
	cs := srv.ConnectionString("sigint")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, 2, 2000, 500); err != nil {
		t.Fatal(err)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	p := startStreamProcess(t, bin, "--connection-string", cs, "--sink", spec, "--batch-interval", "100ms", "--max-rate-per-partition", "100")
	p.waitFor(t, "batch 3:")
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGINT:\n%s", p.output())
	}
	if out := p.output(); !strings.Contains(out, "stopping after the running batch") || !strings.Contains(out, "wrote ") {
		t.Errorf("output after SIGINT:\n%s", out)
	}
	sk := sinkDB(t, spec, "events")
	ps, err := sk.Store.Positions(context.Background(), offsets.Job{})
	if err != nil {
		t.Fatal(err)
	}
	var stored, rows int64
	for _, p := range ps {
		stored += p.Next
	}
	if err := sk.DB.QueryRow(`SELECT count(*) FROM events`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != stored || rows == 4000 {
		t.Errorf("%d rows and stored positions summing to %d: want equal, more than 0 and less than the 4000 sent", rows, stored)
	}
}
