package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	_ "modernc.org/sqlite"
)

// An existing --table of another shape is refused at the start, before
// anything is stored, naming the missing columns and the cure; a run that
// fails prints no summary ("wrote 0 events ..."), only its error.
func TestStreamChecksTheTableAtStart(t *testing.T) {
	cs := filledHub(t, emulator.HubConfig{Name: "shape", PartitionCount: 2}, 5)
	path := filepath.Join(t.TempDir(), "archive.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ddl := range []string{
		`CREATE TABLE readings (id INTEGER PRIMARY KEY, eventhub TEXT, partition_id TEXT, body BLOB)`,
		// The right shape, but no row may go in: the first batch fails.
		`CREATE TABLE closed (eventhub TEXT NOT NULL, partition_id TEXT NOT NULL, sequence_number BIGINT NOT NULL, "offset" TEXT NOT NULL,
			enqueued_time TEXT NOT NULL, partition_key TEXT, properties TEXT NOT NULL, body BLOB NOT NULL, CHECK (sequence_number < 0))`,
	} {
		if _, err := db.Exec(ddl); err != nil {
			t.Fatal(err)
		}
	}
	stream := func(table string) (int, string, string) {
		return cli(t, "", "stream", "--http", "", "--connection-string", cs, "--sink", "sqlite:"+path, "--table", table, "--job", table,
			"--until-idle", "--batch-interval", "20ms")
	}
	code, out, errOut := stream("readings")
	for _, s := range []string{"table readings", "has no column sequence_number", "offset", "enqueued_time", "partition_key", "properties", "--table"} {
		if code != 1 || !strings.Contains(errOut, s) {
			t.Errorf("stream --table readings: exit %d, stderr %q; want exit 1 saying %q", code, errOut, s)
		}
	}
	if strings.Contains(out, "wrote") || strings.Contains(out, "batch 1") {
		t.Errorf("stream --table readings printed %q", out)
	}
	var stored int
	if err := db.QueryRow(`SELECT count(*) FROM ehstream_offsets WHERE job = 'readings'`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the refused job stored %d positions (%v), want none", stored, err)
	}

	code, out, errOut = stream("closed")
	if code != 1 || !strings.Contains(errOut, "CHECK constraint failed") || strings.Contains(out, "wrote") {
		t.Errorf("stream --table closed: exit %d, stdout %q, stderr %q; want exit 1 with the constraint's error and no summary", code, out, errOut)
	}
	if code, out, errOut := stream("fresh"); code != 0 || !strings.Contains(out, "wrote 10 events in") {
		t.Errorf("stream --table fresh: exit %d, stdout %q, stderr %q; want the summary", code, out, errOut)
	}
}

// privatePostgresDown is a PostgreSQL server of the test's own, stopped:
// its URL refuses connections until start.
func privatePostgresDown(t *testing.T) *privatePostgres {
	t.Helper()
	if _, err := postgresBindir(); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("skipping: %v (.ci/run installs PostgreSQL)", err)
	}
	pg := startPrivatePostgres(t, chaosPorts(t, 1)[0])
	pg.stop()
	return pg
}

// retriesLogged counts the start's log lines of failed tries of what.
func retriesLogged(out, what string) int {
	return len(regexp.MustCompile(`msg="sqlsink: `+regexp.QuoteMeta(what)+` failed; trying again" attempt=\d+ wait=\S+ err=".*connect`).FindAllString(out, -1))
}

// A sink, or an ownership store, that is down when the job starts is
// tried again as a batch is during a run, each failure logged with its
// cause, until it answers.
func TestStreamWaitsAtStartForTheDatabase(t *testing.T) {
	pg := privatePostgresDown(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cs := filledHub(t, emulator.HubConfig{Name: "late", PartitionCount: 2}, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p := startStreamProcess(t, bin, "--http", "", "--connection-string", cs, "--sink", pg.URL, "--until-idle", "--batch-interval", "20ms")
	p.waitUntil(t, "three tries to connect to the sink", func(out string) bool { return retriesLogged(out, "connecting to the sink") >= 3 })
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if out := p.output(); err != nil || !strings.Contains(out, "wrote 10 events") {
			t.Fatalf("ehstream stream: %v\n%s", err, out)
		}
	case <-ctx.Done():
		t.Fatalf("ehstream stream did not finish once the database was up:\n%s", p.output())
	}

	// The ownership store, down while the sink is up.
	pg.stop()
	spec := "sqlite:" + filepath.Join(t.TempDir(), "sink.db")
	p = startStreamProcess(t, bin, "--http", "", "--connection-string", cs, "--sink", spec, "--ownership", pg.URL, "--owner-id", "r1")
	p.waitUntil(t, "two tries to open the ownership store", func(out string) bool { return retriesLogged(out, "opening the ownership store") >= 2 })
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "sharing the partitions")
}

// --start-timeout bounds the tries: a database still down after it fails
// the start with the cause, and says how to wait longer.
func TestStreamStartTimeout(t *testing.T) {
	pg := privatePostgresDown(t)
	begin := time.Now()
	code, out, errOut := cli(t, "", "stream", "--http", "", "--connection-string", "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=h",
		"--sink", pg.URL, "--start-timeout", "2s")
	took := time.Since(begin)
	if code != 1 || !strings.Contains(errOut, "connect") || !strings.Contains(errOut, "--start-timeout 2s") || out != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, the cause and --start-timeout", code, out, errOut)
	}
	if took < 2*time.Second || took > 20*time.Second {
		t.Errorf("the start gave up after %s, want about the 2 s of --start-timeout", took)
	}
	if n := retriesLogged(errOut, "connecting to the sink"); n < 2 {
		t.Errorf("%d tries logged in 2 s, want a few (250 ms, then twice as long each time)", n)
	}
	code, _, errOut = cli(t, "", "stream", "--http", "", "--start-timeout", "0s")
	if code != 2 || !strings.Contains(errOut, "--start-timeout 0s") {
		t.Errorf("--start-timeout 0s: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
