package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
)

// offsetsRows runs `ehstream offsets` and returns its rows keyed by
// "job/group/partition", each the fields after the partition: next,
// updated and, with a connection string, hub end, lag and the oldest
// unread event's age. (The table column stands between group and
// partition.)
func offsetsRows(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	code, out, errOut := cli(t, "", append([]string{"offsets"}, args...)...)
	if code != 0 {
		t.Fatalf("offsets %v: exit %d, stderr %q", args, code, errOut)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]+"/"+f[3]+"/"+f[5]] = f[6:]
	}
	return rows
}

// Hub bounds do not depend on the consumer group: offsets shows the hub end
// and lag of every stored position of the connection string's namespace and
// hub, whatever its group, comparing names as Event Hubs does (ignoring
// case). --consumer-group only filters.
func TestOffsetsLagForEveryConsumerGroup(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2, ConsumerGroups: []string{"archiver", "cg1"}},
		emulator.HubConfig{Name: "other", PartitionCount: 1})
	// "localhost" rather than 127.0.0.1, so that the host's case can differ.
	base := strings.Replace(srv.ConnectionString(""), "127.0.0.1", "localhost", 1)
	orders, other := base+";EntityPath=orders", base+";EntityPath=other"
	spec := "sqlite:" + filepath.Join(t.TempDir(), "lag.db")
	for _, p := range []string{"0", "1"} {
		if code, _, errOut := cli(t, "a\nb\nc\n", "send", "--connection-string", orders, "--partition", p); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
	}
	for _, run := range [][]string{
		{"--connection-string", orders, "--consumer-group", "archiver"},
		// Tables of their own: a table holds one copy of a hub.
		{"--connection-string", orders, "--consumer-group", "cg1", "--job", "second", "--table", "events2"},
		{"--connection-string", other, "--job", "third", "--table", "events3"},
	} {
		args := append([]string{"stream", "--sink", spec, "--until-idle", "--batch-interval", "20ms", "--starting-position", "earliest"}, run...)
		if code, out, errOut := cli(t, "", args...); code != 0 {
			t.Fatalf("stream %v: exit %d\n%s%s", run, code, out, errOut)
		}
	}
	jobsEnded(t)
	if code, _, errOut := cli(t, "d\ne\n", "send", "--connection-string", orders, "--partition", "0"); code != 0 {
		t.Fatalf("send: %s", errOut)
	}

	want := map[string]string{
		"archive/archiver/0": "3 5 2", "archive/archiver/1": "3 3 0",
		"second/cg1/0": "3 5 2", "second/cg1/1": "3 3 0",
		"third/$default/0": "0 - -", // another hub: its bounds are not known
	}
	upper := strings.Replace(base, "localhost", "LOCALHOST", 1) + ";EntityPath=ORDERS"
	for _, cs := range []string{orders, upper} {
		rows := offsetsRows(t, "--sink", spec, "--connection-string", cs)
		if len(rows) != len(want) {
			t.Errorf("offsets with %s: %d rows, want %d: %v", cs, len(rows), len(want), rows)
		}
		for k, w := range want {
			r := rows[k]
			if len(r) != 5 || r[0]+" "+r[2]+" "+r[3] != w {
				t.Errorf("offsets with %s: row %s = %v, want next, hub end and lag %s", cs, k, r, w)
				continue
			}
			// The oldest unread event's age: none when nothing is unread.
			if d, err := time.ParseDuration(r[4]); (r[3] == "0" || r[3] == "-") != (r[4] == "-") || (r[4] != "-" && (err != nil || d < 0 || d > time.Minute)) {
				t.Errorf("offsets with %s: row %s: oldest unread %q with lag %s; want an age under a minute, or - when nothing is unread", cs, k, r[4], r[3])
			}
		}
	}

	rows := offsetsRows(t, "--sink", spec, "--connection-string", orders, "--consumer-group", "CG1")
	if len(rows) != 2 || rows["second/cg1/0"] == nil || rows["second/cg1/0"][3] != "2" {
		t.Errorf("offsets --consumer-group CG1: %v, want the two rows of group cg1 with their lag", rows)
	}
	code, _, errOut := cli(t, "", "offsets", "--sink", spec, "--consumer-group", "nosuchgroup")
	if code == 0 || !strings.Contains(errOut, `"nosuchgroup"`) {
		t.Errorf("offsets --consumer-group nosuchgroup: exit %d, stderr %q; want an error naming the group", code, errOut)
	}
}

// jobsEnded closes the receivers that jobs run in this process left in the
// pool, as their processes would have on exit: they hold their partitions.
func jobsEnded(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eventhubs.CloseAll(ctx); err != nil {
		t.Fatal(err)
	}
}

// offsets shows how long each partition's oldest unread event has waited,
// read without an owner level: while a job holds its consumer group's
// partitions the age is unknown ("?") and offsets says to read it with
// another consumer group (--lag-consumer-group), which shows it, leaving
// the job its partition.
func TestOffsetsTimeLag(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 2, ConsumerGroups: []string{"archiver", "monitor"}})
	cs := srv.ConnectionString("orders")
	spec := "sqlite:" + filepath.Join(t.TempDir(), "lag.db")
	send := func(partition, lines string) {
		t.Helper()
		if code, _, errOut := cli(t, lines, "send", "--connection-string", cs, "--partition", partition); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
	}
	send("0", "a\nb\nc\n")
	send("1", "a\n")
	if code, out, errOut := cli(t, "", "stream", "--connection-string", cs, "--consumer-group", "archiver", "--sink", spec,
		"--until-idle", "--batch-interval", "20ms", "--starting-position", "earliest"); code != 0 {
		t.Fatalf("stream: exit %d\n%s%s", code, out, errOut)
	}
	jobsEnded(t)
	send("0", "d\ne\n")
	code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--consumer-group", "monitor", "--range", "0:3:4")
	evs := readLinesJSON(t, out)
	if code != 0 || len(evs) != 1 {
		t.Fatalf("read 0:3:4: exit %d, %d events, %s", code, len(evs), errOut)
	}
	enqueued, err := time.Parse(time.RFC3339Nano, evs[0]["enqueuedTime"].(string))
	if err != nil {
		t.Fatal(err)
	}

	// checkAge runs offsets and checks partition 0's oldest unread: the
	// age of event 3 (give or take the rounding to a second), or unknown.
	checkAge := func(unknown bool, args ...string) string {
		t.Helper()
		before := time.Now()
		rows := offsetsRows(t, append([]string{"--sink", spec, "--connection-string", cs}, args...)...)
		after := time.Now()
		r0, r1 := rows["archive/archiver/0"], rows["archive/archiver/1"]
		if len(r0) != 5 || len(r1) != 5 || r0[3] != "2" || r1[3] != "0" || r1[4] != "-" {
			t.Fatalf("offsets %v: rows %v, %v; want lag 2 and 0, nothing unread in partition 1", args, r0, r1)
		}
		if unknown {
			if r0[4] != "?" {
				t.Errorf("offsets %v: oldest unread %q while a job holds the partition, want ?", args, r0[4])
			}
			return r0[4]
		}
		d, err := time.ParseDuration(r0[4])
		if err != nil || d < before.Sub(enqueued)-time.Second || d > after.Sub(enqueued)+time.Second {
			t.Errorf("offsets %v: oldest unread %q, want the age of event 3, enqueued at %s: %s to %s",
				args, r0[4], enqueued, before.Sub(enqueued), after.Sub(enqueued))
		}
		return r0[4]
	}
	checkAge(false)

	// A running job: it holds partition 0 of its consumer group.
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "", "archiver", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	earliest := true
	job, err := cc.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{OwnerLevel: new(int64), Prefetch: -1,
		StartPosition: azeventhubs.StartPosition{Earliest: &earliest}})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close(context.Background())
	if _, err := job.ReceiveEvents(ctx, 1, nil); err != nil { // attaches: the partition is the job's
		t.Fatal(err)
	}
	code, _, errOut = cli(t, "", "offsets", "--sink", spec, "--connection-string", cs)
	if code != 0 || !strings.Contains(errOut, "partition 0 is unknown") || !strings.Contains(errOut, "--lag-consumer-group") {
		t.Errorf("offsets while the job holds partition 0: exit %d, stderr %q; want the unknown age explained, and --lag-consumer-group named", code, errOut)
	}
	checkAge(true)
	checkAge(false, "--lag-consumer-group", "monitor")
	send("0", "f\n")
	if evs, err := job.ReceiveEvents(ctx, 5, nil); err != nil || len(evs) != 5 { // b to f
		t.Errorf("the job lost its partition to offsets: %d events, %v", len(evs), err)
	}
}

// A job with a position of a partition the hub does not have (a hub
// created again with fewer) is listed without a lag, saying why; other
// jobs keep theirs.
func TestOffsetsPositionOfAMissingPartition(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 1})
	cs := srv.ConnectionString("orders")
	spec := "sqlite:" + filepath.Join(t.TempDir(), "gone.db")
	if code, out, errOut := cli(t, "", "stream", "--connection-string", cs, "--sink", spec, "--until-idle", "--batch-interval", "20ms"); code != 0 {
		t.Fatalf("stream: exit %d\n%s%s", code, out, errOut)
	}
	sk, err := sqlsink.OpenForReading(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	job, err := offsets.JobFor("old", eventhubs.NewConf(cs))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sk.DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := sk.Store.CommitOffsets(context.Background(), tx, job, []eventhubs.OffsetRange{{Name: "orders", PartitionID: "3", FromSeqNo: 0, UntilSeqNo: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "", "offsets", "--sink", spec, "--connection-string", cs)
	rows := offsetsRows(t, "--sink", spec, "--connection-string", cs)
	if code != 0 || !strings.Contains(errOut, `job "old": no lag`) || !strings.Contains(errOut, "partition 3") {
		t.Errorf("offsets: exit %d, stderr %q; want the missing partition named", code, errOut)
	}
	if r := rows["old/$default/3"]; len(r) != 5 || r[2]+r[3]+r[4] != "---" {
		t.Errorf("row of the missing partition: %v, want no hub end, lag or age", r)
	}
	if r := rows["archive/$default/0"]; len(r) != 5 || r[3] != "0" {
		t.Errorf("row of the other job: %v, want its lag, 0", r)
	}
}

// offsets only reads: a sink that does not exist, or holds no positions
// table, is an error naming it, and offsets creates neither file nor table.
func TestOffsetsOnMissingSink(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	code, out, errOut := cli(t, "", "offsets", "--sink", "sqlite:"+typo)
	if code == 0 || !strings.Contains(errOut, typo) || !strings.Contains(errOut, "does not exist") {
		t.Errorf("offsets on a missing SQLite file: exit %d, stdout %q, stderr %q; want an error naming the file", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("offsets on a missing SQLite file created %v", entries)
	}

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE notes (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, "", "offsets", "--sink", "sqlite:"+other)
	if code == 0 || !strings.Contains(errOut, other) || !strings.Contains(errOut, "no table "+offsets.DefaultTable) {
		t.Errorf("offsets on a SQLite file without positions: exit %d, stdout %q, stderr %q; want an error naming file and table", code, out, errOut)
	}
	if tableExists(t, db, offsets.SQLite) {
		t.Errorf("offsets created table %s in %s", offsets.DefaultTable, other)
	}

	t.Run("postgres", func(t *testing.T) {
		url := freshPostgres(t)
		code, out, errOut := cli(t, "", "offsets", "--sink", url)
		if code == 0 || !strings.Contains(errOut, "no table "+offsets.DefaultTable) || strings.Contains(out+errOut, ":postgres@") {
			t.Errorf("offsets on a PostgreSQL database without positions: exit %d, stdout %q, stderr %q; want an error naming the table, without the password", code, out, errOut)
		}
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if tableExists(t, db, offsets.PostgreSQL) {
			t.Errorf("offsets created table %s", offsets.DefaultTable)
		}
	})
}

func tableExists(t *testing.T, db *sql.DB, d offsets.Dialect) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d == offsets.PostgreSQL {
		q = `SELECT count(*) FROM pg_tables WHERE tablename = $1`
	}
	var n int
	if err := db.QueryRow(q, offsets.DefaultTable).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
