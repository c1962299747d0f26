package main

import (
	"context"
	"database/sql"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/offsets"
)

// Two replicas of `ehstream stream --ownership` on PostgreSQL work off a
// backlog, and one is stopped (SIGSTOP: a long pause, a frozen machine)
// while its batch's transaction is open. The other takes its partitions
// once their claims expire and writes the whole backlog while the stopped
// one stays stopped: the stopped transaction holds no lock the other waits
// for, or holds it briefly. The table ends with every event once.
func TestStreamReplicaStoppedInATransaction(t *testing.T) {
	const partitions, perPartition = 4, 10_000
	const expiration = 2 * time.Second
	pg := freshPostgres(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "stx", PartitionCount: partitions})
	connStr := srv.ConnectionString("stx")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := localhub.Fill(ctx, connStr, partitions, perPartition, &localhub.FillOptions{Step: 2500}); err != nil {
		t.Fatal(err)
	}
	replica := func(id string) *streamProcess {
		u, err := url.Parse(pg)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("application_name", id) // to find the replica's sessions
		u.RawQuery = q.Encode()
		return startStreamProcess(t, bin, "--connection-string", connStr, "--sink", u.String(), "--table", "events", "--job", "stx",
			"--batch-interval", "100ms", "--max-rate-per-partition", "500", "--ownership", pg, "--owner-id", id,
			"--ownership-interval", "500ms", "--ownership-expiration", expiration.String(), "--http", "")
	}
	r1, r2 := replica("r1"), replica("r2")
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r1.waitFor(t, "partition gained")
	stopInTransaction(t, ctx, db, r1, "r1")
	stopped := time.Now()
	// Before the table is dropped, which waits for r1's transaction.
	defer r1.cmd.Process.Kill()

	job, err := offsets.JobFor("stx", eventhubs.NewConf(connStr))
	if err != nil {
		t.Fatal(err)
	}
	sk := sinkDB(t, pg, "events")
	deadline := stopped.Add(60 * time.Second)
	for !positionsAt(t, ctx, sk.Store, job, partitions, perPartition) {
		if time.Now().After(deadline) {
			ps, _ := sk.Store.Positions(ctx, job)
			t.Fatalf("60 s after r1 stopped inside its transaction, r2 had not written the backlog: positions %+v\nr2:\n%s", ps, tail(r2.output(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(stopped)
	t.Logf("r2 wrote the backlog %s after r1 stopped inside its transaction", took.Round(time.Millisecond))
	if limit := expiration + 20*time.Second; took > limit {
		t.Errorf("r2 wrote the backlog %s after r1 stopped; want at most %s (the claims' expiration, the idle bound of a stopped transaction, and the work)", took.Round(time.Millisecond), limit)
	}
	r1.cmd.Process.Signal(syscall.SIGCONT)
	for _, p := range []*streamProcess{r1, r2} {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := <-r2.exited; err != nil {
		t.Errorf("r2 after SIGTERM: %v\n%s", err, tail(r2.output(), 20))
	}
	// r1 stopped within its commit would find its session ended by the
	// server; whatever it says, it must not have written anything twice.
	t.Logf("r1 after SIGCONT and SIGTERM: %v", <-r1.exited)
	checkArchive(t, sk, "events", job, partitions, perPartition)
}

// stopInTransaction stops p (SIGSTOP) at a moment when a session named
// application (its sink's application_name) is inside a transaction, and
// fails the test when it cannot catch one within 30 s. A transaction
// caught is one that stays open for a while after the stop: statements
// the process sent before it stopped (a COMMIT) may still end it.
func stopInTransaction(t *testing.T, ctx context.Context, db *sql.DB, p *streamProcess, application string) {
	t.Helper()
	type session struct {
		pid          int
		xactStart    time.Time
		state, query string
	}
	inTx := func() (s session) {
		err := db.QueryRowContext(ctx, `SELECT pid, xact_start, state, left(query, 60) FROM pg_stat_activity
			WHERE application_name = $1 AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 1`, application).Scan(&s.pid, &s.xactStart, &s.state, &s.query)
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		return s
	}
	// stays reports whether the transaction stays open for half a second.
	stays := func(s session) bool {
		for until := time.Now().Add(500 * time.Millisecond); time.Now().Before(until); time.Sleep(20 * time.Millisecond) {
			if now := inTx(); now.pid != s.pid || !now.xactStart.Equal(s.xactStart) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if inTx().pid == 0 {
			continue
		}
		p.cmd.Process.Signal(syscall.SIGSTOP)
		if s := inTx(); s.pid != 0 && stays(s) {
			t.Logf("%s stopped inside its transaction: %s, %q", application, s.state, s.query)
			return
		}
		p.cmd.Process.Signal(syscall.SIGCONT) // it committed meanwhile: again
	}
	t.Fatalf("%s was never caught inside a transaction within 30 s:\n%s", application, tail(p.output(), 20))
}

// positionsAt reports whether the job's stored positions of all the
// partitions are at n.
func positionsAt(t *testing.T, ctx context.Context, store *offsets.Store, job offsets.Job, partitions int, n int64) bool {
	t.Helper()
	ps, err := store.Positions(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	done := len(ps) == partitions
	for _, p := range ps {
		done = done && p.Next == n
	}
	return done
}
