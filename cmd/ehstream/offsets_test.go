package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/offsets"
)

// offsetsRows runs `ehstream offsets` and returns its rows keyed by
// "job/group/partition", each the fields after the partition: next,
// updated and, with a connection string, hub end and lag. (The table
// column stands between group and partition.)
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
			if len(r) != 4 || r[0]+" "+r[2]+" "+r[3] != w {
				t.Errorf("offsets with %s: row %s = %v, want next, hub end and lag %s", cs, k, r, w)
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
