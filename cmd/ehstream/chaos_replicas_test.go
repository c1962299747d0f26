package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/internal/pgtest"
)

// The replicas' chaos run (issue 21): two replicas of job "chaos" share the
// hub's partitions through ownership records in PostgreSQL, and a second
// job, "audit", reads the hub with its own consumer group through the same
// store, while a producer writes and the emulator injects faults. The
// processes are restarted under another host name of the emulator, one
// replica is SIGSTOPped past its claims' expiration, PostgreSQL restarts,
// and replicas are killed -9. At the end each table holds every event of
// the hub exactly once, and every acknowledged event.
//
//	EHSTREAM_TEST_POSTGRES=... go test -run ChaosReplicas -v ./cmd/ehstream/
//	EHSTREAM_TEST_POSTGRES=... go test ./cmd/ehstream/ -run ChaosReplicas -timeout 30m -v -chaos.duration 10m
func TestChaosReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test runs child processes for a while")
	}
	pgtest.URL(t) // the chaos test runs a PostgreSQL server of its own from the installation's binaries
	const expiration, interval = 4 * time.Second, time.Second
	d := max(*chaosDuration, 20*time.Second)
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

	replica := func(job, table, owner string, extra ...string) *chaosJobRuns {
		args := append([]string{"--connection-string", emu.connStr, "--sink", pg.URL, "--table", table, "--job", job,
			"--batch-interval", "200ms", "--http", "", "--ownership", pg.URL, "--owner-id", owner,
			"--ownership-interval", interval.String(), "--ownership-expiration", expiration.String()}, extra...)
		return &chaosJobRuns{t: t, bin: bin, args: args}
	}
	r1, r2 := replica(chaosJob, chaosTable, "r1"), replica(chaosJob, chaosTable, "r2")
	audit := replica("audit", "audit", "audit-1", "--consumer-group", chaosOtherGroup)
	procs := map[string]*chaosJobRuns{"r1": r1, "r2": r2, "audit": audit}
	defer func() {
		if t.Failed() {
			for name, p := range procs {
				t.Logf("--- %s", name)
				p.logRuns()
			}
			t.Logf("emulator output (the end):\n%s", emu.output())
			t.Logf("PostgreSQL log (the end):\n%s", pg.log())
		}
	}()
	for _, p := range procs {
		p.start()
	}
	restartExited := func() {
		for _, p := range procs {
			p.restartIfExited()
		}
	}

	prodCtx, stopProducing := context.WithCancel(ctx)
	prod := &chaosProducer{connStr: emu.connStr}
	var producers sync.WaitGroup
	for p := range chaosPartitions {
		producers.Add(1)
		go func() { defer producers.Done(); prod.run(prodCtx, p) }()
	}
	defer func() { stopProducing(); producers.Wait() }()

	start := time.Now()
	for _, a := range replicaChaosPlan(d, expiration+2*interval) {
		select {
		case <-time.After(time.Until(start.Add(a.at))):
		case <-ctx.Done():
			t.Fatalf("the run's deadline passed before %q at %s", a.what, a.at)
		}
		restartExited()
		at := time.Now()
		switch p := procs[a.proc]; a.what {
		case "restart as localhost":
			p.cur.cmd.Process.Signal(syscall.SIGTERM)
			if err := <-p.cur.exited; err != nil {
				t.Errorf("%s after SIGTERM: %v\n%s", a.proc, err, tail(p.cur.output(), 3000))
			}
			p.as("localhost")
			p.start()
		case "kill -9, restart as 127.0.0.1":
			p.kill()
			p.as("127.0.0.1")
			p.start()
		case "SIGSTOP":
			p.cur.cmd.Process.Signal(syscall.SIGSTOP)
		case "SIGCONT":
			p.cur.cmd.Process.Signal(syscall.SIGCONT)
		case "postgres restart":
			if err := pg.restart(); err != nil {
				t.Fatal(err)
			}
		default:
			if err := emu.inject(ctx, a.what); err != nil {
				t.Fatalf("injecting %s: %v", a.what, err)
			}
		}
		t.Logf("%s: %s %s (%s)", at.Sub(start).Round(time.Millisecond), a.proc, a.what, time.Since(at).Round(time.Millisecond))
	}
	stopProducing()
	producers.Wait()

	ends, err := partitionEnds(ctx, emu.connStr)
	if err != nil {
		t.Fatalf("reading the partitions' ends: %v", err)
	}
	ends = waitPositions(t, ctx, db, chaosJob, emu.connStr, ends, restartExited)
	ends = waitPositions(t, ctx, db, "audit", emu.connStr, ends, restartExited)
	for _, p := range procs {
		p.stop(ctx)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "replicas' chaos run of %s: %d events acknowledged (%d send errors)\n", d, prod.acked.Load(), prod.errors.Load())
	for _, table := range []string{chaosTable, "audit"} {
		tally := checkAgainstHub(t, ctx, db, table, ends)
		found := checkAcked(t, ctx, db, table, prod)
		fmt.Fprintf(&report, "  table %s: %d rows for a hub of %d events, %d duplicate and %d missing sequence numbers, %d acknowledged events missing\n",
			table, tally.rows, tally.end, tally.dups, tally.gaps, found.missing)
	}
	for name, p := range procs {
		fmt.Fprintf(&report, "  %s: %d runs (%d killed -9, %d exited on their own)\n", name, len(p.runs), p.killed, p.unexpected)
	}
	if prod.acked.Load() == 0 {
		t.Errorf("no event was acknowledged: the run tested nothing (last send error: %v)", prod.lastErr.Load())
	}
	t.Log(report.String())
}

// replicaAction is a disruption of the replicas' run, at its time from the
// start: what happens to which process.
type replicaAction struct {
	at         time.Duration
	proc, what string // what: an action, or a fault's JSON
}

// replicaChaosPlan is the replicas' run of d: host-name changes between
// restarts, a replica paused for pause (past its claims' expiration), a
// PostgreSQL restart, kills, and a fault every 3 s between them.
func replicaChaosPlan(d, pause time.Duration) []replicaAction {
	at := func(f float64) time.Duration { return time.Duration(f * float64(d)) }
	plan := []replicaAction{
		{at(0.15), "r1", "restart as localhost"},
		{at(0.3), "r2", "SIGSTOP"},
		{at(0.3) + pause, "r2", "SIGCONT"},
		{at(0.55), "", "postgres restart"},
		{at(0.65), "audit", "restart as localhost"},
		{at(0.75), "r2", "kill -9, restart as 127.0.0.1"},
		{at(0.85), "r1", "kill -9, restart as 127.0.0.1"},
	}
	for i, t := 0, 3*time.Second; t < d-time.Second; t, i = t+3*time.Second, i+1 {
		f := chaosFaults[i%len(chaosFaults)]
		plan = append(plan, replicaAction{at: t, what: f.body})
	}
	slices.SortStableFunc(plan, func(a, b replicaAction) int { return cmp.Compare(a.at, b.at) })
	return plan
}

// as makes the job's later runs reach the emulator through host.
func (j *chaosJobRuns) as(host string) {
	for i, a := range j.args {
		if strings.HasPrefix(a, "Endpoint=sb://") {
			rest := a[len("Endpoint=sb://"):]
			j.args[i] = "Endpoint=sb://" + host + rest[strings.Index(rest, ":"):]
		}
	}
}
