package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/sqlsink"
)

// What operators do every day, against the binary or the command run
// in-process, with the emulator and real databases (issue 21): reach the
// hub by another name, start replicas at the end of the hub, put a second
// job on a consumer group, re-create a hub, run replicas whose clock
// disagrees with the ownership database's. Each ends with every event in
// the table once, or a refusal that says why.

// The same hub reached under another host name is the same hub: the job
// goes on from its positions, and a second job writing the hub into the
// same table under the other name is refused.
func TestStreamHostAliasesAreOneHub(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			srv := startInProcess(t, emulator.HubConfig{Name: "alias", PartitionCount: 2})
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			table, job := uniqueName("events"), uniqueName("job")
			sk := sinkDB(t, spec, table)
			sendTo(t, ctx, srv.ConnectionString(""), "alias", "1", 500)
			if code, out, errOut := cli(t, "", streamArgs(withEndpoint(srv, "127.0.0.1", "alias"), spec, table, job)...); code != 0 || !strings.Contains(out, "wrote 500 events") {
				t.Fatalf("run through 127.0.0.1: exit %d\n%s%s", code, out, errOut)
			}
			sendTo(t, ctx, srv.ConnectionString(""), "alias", "0", 7)
			code, out, errOut := cli(t, "", streamArgs(withEndpoint(srv, "localhost", "alias"), spec, table, job)...)
			if code != 0 || !strings.Contains(out, "wrote 7 events") {
				t.Fatalf("run through localhost: exit %d, want only the 7 new events\n%s%s", code, out, errOut)
			}
			if !strings.Contains(out+errOut, "127.0.0.1") {
				t.Errorf("the run through localhost does not say it continues the positions stored for 127.0.0.1:\n%s%s", out, errOut)
			}
			code, out, errOut = cli(t, "", streamArgs(withEndpoint(srv, "localhost", "alias"), spec, table, uniqueName("other"))...)
			if code == 0 || !strings.Contains(errOut, "written by another job") {
				t.Errorf("another job into the same table through the other name: exit %d, want a refusal naming the job that writes it\n%s%s", code, out, errOut)
			}
			rows, distinct := tableCounts(t, sk, table)
			if rows["0"] != 7 || rows["1"] != 500 || fmt.Sprint(rows) != fmt.Sprint(distinct) {
				t.Errorf("the table holds %v rows (%v distinct), want 7 and 500 once each", rows, distinct)
			}
		})
	}
}

// A hub deleted and created again while the job is down, and refilled past
// the job's stored position before it restarts, is told from the hub it
// replaced by its creation time: with --fail-on-data-loss the job stops
// naming the cause; without, it reads the new hub from its beginning.
func TestStreamRecreatedHubRefilledPastThePosition(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			hub := emulator.HubConfig{Name: "refill", PartitionCount: 1}
			srv := startOnDisk(t, "127.0.0.1:0", t.TempDir(), hub)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			table, job := uniqueName("events"), uniqueName("job")
			sk := sinkDB(t, spec, table)
			sendTo(t, ctx, srv.ConnectionString(""), "refill", "0", 300)
			if code, out, errOut := cli(t, "", streamArgs(srv.ConnectionString("refill"), spec, table, job)...); code != 0 {
				t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
			}
			eventhubs.CloseAll(context.Background())
			srv.Close()
			srv = startOnDisk(t, "127.0.0.1:0", t.TempDir(), hub) // the hub is deleted and created again
			sendTo(t, ctx, srv.ConnectionString(""), "refill", "0", 1000)
			cs := srv.ConnectionString("refill")
			code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job)...)
			if code == 0 || !strings.Contains(errOut, "created again") || !strings.Contains(errOut, "--fail-on-data-loss") {
				t.Errorf("with --fail-on-data-loss: exit %d, want a data-loss error naming the re-created hub\n%s%s", code, out, errOut)
			}
			code, out, errOut = cli(t, "", streamArgs(cs, spec, table, job, "--fail-on-data-loss=false")...)
			if code != 0 || !strings.Contains(out, "wrote 1000 events") {
				t.Fatalf("with --fail-on-data-loss=false: exit %d, want all 1000 events of the new hub\n%s%s", code, out, errOut)
			}
			rows, distinct := tableCounts(t, sk, table)
			if rows["0"] != 1300 || distinct["0"] != 1300 {
				t.Errorf("the table holds %d rows (%d distinct), want the old hub's 300 and the new one's 1000", rows["0"], distinct["0"])
			}
		})
	}
}

// replicaArgs are the flags of a replica of job into table, sharing the
// partitions through the PostgreSQL database pg.
func replicaArgs(cs, pg, table, job, owner string, extra ...string) []string {
	return append([]string{"--connection-string", cs, "--sink", pg, "--table", table, "--job", job,
		"--batch-interval", "200ms", "--ownership", pg, "--owner-id", owner, "--http", ""}, extra...)
}

// waitRows polls table until it holds want rows, and fails after limit.
func waitRows(t *testing.T, db *sql.DB, table string, want int, limit time.Duration, procs ...*streamProcess) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var n int
	for {
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err == nil && n >= want {
			return
		}
		if time.Now().After(deadline) {
			var out strings.Builder
			for _, p := range procs {
				out.WriteString(p.output())
			}
			t.Fatalf("table %s holds %d rows after %s, want %d:\n%s", table, n, limit, want, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A replica started at the end of the hub (latest) claims one partition a
// round; the partitions it claims later start where the job started, not
// where the hub stood at the claim: events sent between the two are read.
func TestReplicaLatestIsResolvedWhenTheJobStarts(t *testing.T) {
	pg := freshPostgres(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "late", PartitionCount: 4})
	cs := srv.ConnectionString("late")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for p := range 4 {
		sendTo(t, ctx, srv.ConnectionString(""), "late", fmt.Sprint(p), 10) // before the job: not wanted
	}
	r1 := startStreamProcess(t, bin, replicaArgs(cs, pg, "events", "late", "r1",
		"--starting-position", "latest", "--ownership-interval", "1s", "--ownership-expiration", "4s")...)
	r1.waitFor(t, "sharing the partitions")
	for p := range 4 {
		sendTo(t, ctx, srv.ConnectionString(""), "late", fmt.Sprint(p), 100)
	}
	sk := sinkDB(t, pg, "events")
	waitRows(t, sk.DB, "events", 400, 30*time.Second, r1)
	r1.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-r1.exited; err != nil {
		t.Fatalf("r1 after SIGTERM: %v\n%s", err, r1.output())
	}
	rows, distinct := tableCounts(t, sk, "events")
	want := map[string]int{"0": 100, "1": 100, "2": 100, "3": 100}
	if fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(distinct) != fmt.Sprint(want) {
		t.Errorf("rows per partition %v (distinct %v), want %v", rows, distinct, want)
	}
}

// Two jobs with --ownership on one consumer group would split its
// partitions, each table getting some: the second is refused, naming the
// first and the cure.
func TestSecondJobOnAConsumerGroupIsRefused(t *testing.T) {
	pg := freshPostgres(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "split", PartitionCount: 4, ConsumerGroups: []string{"audit"}})
	cs := srv.ConnectionString("split")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	archive := startStreamProcess(t, bin, replicaArgs(cs, pg, "events", "archive", "archive-1", "--ownership-interval", "1s", "--ownership-expiration", "4s")...)
	archive.waitFor(t, "sharing the partitions")
	audit := startStreamProcess(t, bin, replicaArgs(cs, pg, "audit", "audit", "audit-1", "--ownership-interval", "1s", "--ownership-expiration", "4s")...)
	select {
	case err := <-audit.exited:
		out := audit.output()
		if err == nil || !strings.Contains(out, `"archive"`) || !strings.Contains(out, "--consumer-group") {
			t.Errorf("the second job: %v, want a refusal naming job archive and --consumer-group:\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the second job on the consumer group still runs after 30 s:\n%s", audit.output())
	}
	// With its own consumer group the second job reads every partition.
	for p := range 4 {
		sendTo(t, ctx, srv.ConnectionString(""), "split", fmt.Sprint(p), 25)
	}
	audit = startStreamProcess(t, bin, replicaArgs(cs, pg, "audit", "audit", "audit-1", "--consumer-group", "audit", "--ownership-interval", "1s", "--ownership-expiration", "4s")...)
	sk := sinkDB(t, pg, "events")
	waitRows(t, sk.DB, "audit", 100, 30*time.Second, audit)
	waitRows(t, sk.DB, "events", 100, 30*time.Second, archive)
	for _, p := range []*streamProcess{archive, audit} {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-p.exited; err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, p.output())
		}
	}
}

// The ownership database's clock 10 s behind the replica's, with a 4 s
// expiration: the replica's own claims must not look expired to it, and
// it must claim every partition.
func TestReplicaWithTheStoreClockBehind(t *testing.T) {
	pg := freshPostgres(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The ownership table, made as the store makes it, with every claim
	// stamped 10 s earlier than the database's clock says: a database
	// whose clock is behind the replica's.
	for _, stmt := range []string{
		`CREATE TABLE ehstream_ownership (namespace TEXT NOT NULL, eventhub TEXT NOT NULL, consumer_group TEXT NOT NULL, partition_id TEXT NOT NULL,
			owner_id TEXT NOT NULL, modified_ms BIGINT NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (namespace, eventhub, consumer_group, partition_id))`,
		`CREATE FUNCTION skew() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.modified_ms := NEW.modified_ms - 10000; RETURN NEW; END $$`,
		`CREATE TRIGGER skew BEFORE INSERT OR UPDATE ON ehstream_ownership FOR EACH ROW EXECUTE FUNCTION skew()`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "skew", PartitionCount: 4})
	cs := srv.ConnectionString("skew")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for p := range 4 {
		sendTo(t, ctx, srv.ConnectionString(""), "skew", fmt.Sprint(p), 250)
	}
	r1 := startStreamProcess(t, bin, replicaArgs(cs, pg, "events", "skew", "r1", "--ownership-interval", "1s", "--ownership-expiration", "4s")...)
	waitRows(t, db, "events", 1000, 30*time.Second, r1)
	r1.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-r1.exited; err != nil {
		t.Fatalf("r1 after SIGTERM: %v\n%s", err, r1.output())
	}
	sk := &sqlsink.Sink{DB: db}
	rows, distinct := tableCounts(t, sk, "events")
	want := map[string]int{"0": 250, "1": 250, "2": 250, "3": 250}
	if fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(distinct) != fmt.Sprint(want) {
		t.Errorf("rows per partition %v (distinct %v), want %v", rows, distinct, want)
	}
}

// A partition the hub gains while replicas of a job run is read from its
// first event, as a job that owns every partition reads it, not from
// where the hub stood when a replica claimed it: under latest, events
// sent to it before the claim are read too.
func TestReplicaReadsANewPartitionFromItsFirstEvent(t *testing.T) {
	pg := freshPostgres(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := startOnDisk(t, "127.0.0.1:0", dir, emulator.HubConfig{Name: "grow", PartitionCount: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cs := srv.ConnectionString("grow")
	r1 := startStreamProcess(t, bin, replicaArgs(cs, pg, "events", "grow", "r1",
		"--starting-position", "latest", "--ownership-interval", "1s", "--ownership-expiration", "4s")...)
	r1.waitFor(t, "sharing the partitions")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv = startOnDisk(t, srv.Addr(), dir, emulator.HubConfig{Name: "grow", PartitionCount: 3}) // the hub gains partition 2, which fills at once
	sendTo(t, ctx, srv.ConnectionString(""), "grow", "2", 40)
	sk := sinkDB(t, pg, "events")
	waitRows(t, sk.DB, "events", 40, 30*time.Second, r1)
	r1.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-r1.exited; err != nil {
		t.Fatalf("r1 after SIGTERM: %v\n%s", err, r1.output())
	}
	rows, distinct := tableCounts(t, sk, "events")
	if want := map[string]int{"2": 40}; fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(distinct) != fmt.Sprint(want) {
		t.Errorf("rows per partition %v (distinct %v), want %v", rows, distinct, want)
	}
}
