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
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
)

// offsets --ownership shows who owns each listed partition and how long
// ago it claimed it: "(none)" for a relinquished partition, "-" for one
// never claimed. Records are per consumer group, and are found whatever
// port the claiming processor's namespace had.
func TestOffsetsOwnership(t *testing.T) {
	path := filepath.Join(t.TempDir(), "own.db")
	spec := "sqlite:" + path
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	positions, err := offsets.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, group := range []string{"$Default", "cg1"} {
		job := offsets.Job{Name: "archive", Namespace: "localhost", EventHub: "orders", ConsumerGroup: group}
		if group == "cg1" {
			job.Name = "second"
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ranges []eventhubs.OffsetRange
		for _, p := range []string{"0", "1", "2"} {
			ranges = append(ranges, eventhubs.OffsetRange{Name: "orders", PartitionID: p, FromSeqNo: 0, UntilSeqNo: 5})
		}
		if err := positions.CommitOffsets(ctx, tx, job, ranges); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	store, err := ownership.NewSQLStore(ctx, positions, "archive", nil)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(group, partition, owner string) azeventhubs.Ownership {
		t.Helper()
		got, err := store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: "localhost:5672", EventHubName: "orders",
			ConsumerGroup: group, PartitionID: partition, OwnerID: owner}}, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		return got[0]
	}
	claim("$Default", "0", "replica-a")
	gone := claim("$Default", "1", "replica-a")
	gone.OwnerID = "" // relinquished, as a processor does when it stops
	if got, err := store.ClaimOwnership(ctx, []azeventhubs.Ownership{gone}, nil); err != nil || len(got) != 1 {
		t.Fatalf("relinquish: %v %v", got, err)
	}
	claim("cg1", "2", "replica-b")

	rows := offsetsRows(t, "--sink", spec, "--ownership", spec)
	for key, want := range map[string]string{
		"archive/$default/0": "replica-a", "archive/$default/1": "(none)", "archive/$default/2": "-",
		"second/cg1/0": "-", "second/cg1/1": "-", "second/cg1/2": "replica-b",
	} {
		r := rows[key]
		// next, updated, owner, then the claim's age and "ago" (or -).
		if len(r) < 4 || r[0] != "5" || r[2] != want {
			t.Errorf("row %s: %v, want owner %s", key, r, want)
			continue
		}
		if want == "-" {
			if len(r) != 4 || r[3] != "-" {
				t.Errorf("row %s: %v, want no claim", key, r)
			}
			continue
		}
		if d, err := time.ParseDuration(r[3]); len(r) != 5 || err != nil || d < 0 || d > time.Minute || r[4] != "ago" {
			t.Errorf("row %s: %v, want the claim's age under a minute, then \"ago\"", key, r)
		}
	}
	if code, out, _ := cli(t, "", "offsets", "--sink", spec, "--ownership", spec); code != 0 || !strings.Contains(out, "OWNER") || !strings.Contains(out, "CLAIMED") {
		t.Errorf("offsets --ownership: exit %d, header missing OWNER and CLAIMED:\n%s", code, out)
	}

	// Looking creates nothing, and a password never shows.
	missing := filepath.Join(t.TempDir(), "missing.db")
	code, _, errOut := cli(t, "", "offsets", "--sink", spec, "--ownership", "sqlite:"+missing)
	if code == 0 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("offsets --ownership of a missing file: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("offsets --ownership created the missing file")
	}
	code, _, errOut = cli(t, "", "offsets", "--sink", spec, "--ownership", "postgres://u:hunter2pw@127.0.0.1:1/db?connect_timeout=5")
	if code == 0 || strings.Contains(errOut, "hunter2pw") || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("offsets --ownership of an unreachable database: exit %d, %q; want an error naming it without its password", code, errOut)
	}
}
