package ownership_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
)

// sqlDatabases runs fn against a fresh SQLite file and, with
// EHSTREAM_TEST_POSTGRES, PostgreSQL.
func sqlDatabases(t *testing.T, fn func(t *testing.T, db *sql.DB, dialect offsets.Dialect)) {
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t), offsets.PostgreSQL) })
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t), offsets.SQLite) })
}

// The job as ehstream names it: the host without the port, lower case.
var job = offsets.Job{Name: "totals", Namespace: "localhost", EventHub: "orders", ConsumerGroup: "$default", Output: "totals_table"}

func commitRanges(t *testing.T, db *sql.DB, positions *offsets.Store, j offsets.Job, ranges ...eventhubs.OffsetRange) error {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := positions.CommitOffsets(ctx, tx, j, ranges); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func rng(p string, from, until int64) eventhubs.OffsetRange {
	return eventhubs.OffsetRange{Name: "orders", PartitionID: p, FromSeqNo: from, UntilSeqNo: until}
}

// checkpoints lists the store's checkpoints by partition, asked the way a
// Processor of the emulator asks: the namespace with its port, names in
// whatever case.
func checkpoints(t *testing.T, s azeventhubs.CheckpointStore, namespace, hub, group string) map[string]int64 {
	t.Helper()
	cps, err := s.ListCheckpoints(testCtx(t, 30*time.Second), namespace, hub, group, nil)
	if err != nil {
		t.Fatalf("ListCheckpoints: %v", err)
	}
	out := map[string]int64{}
	for _, c := range cps {
		if c.SequenceNumber == nil || c.Offset != nil {
			t.Fatalf("checkpoint %+v: want a sequence number and no offset", c)
		}
		if c.FullyQualifiedNamespace != namespace || c.EventHubName != hub || c.ConsumerGroup != group {
			t.Fatalf("checkpoint %+v: want the names asked with", c)
		}
		out[c.PartitionID] = *c.SequenceNumber
	}
	return out
}

// The SQL store's checkpoints are the job's positions: after CommitOffsets
// of ranges ending at until, ListCheckpoints says until-1 (the last event
// processed); a partition at position 0 has none. SetCheckpoint moves the
// position to the sequence number after the checkpoint's, keeps the
// positions' output, and CommitOffsets goes on from there.
func TestCheckpointsArePositions(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		positions, store := sqlStores(t, db, job.Name)
		if got := checkpoints(t, store, "localhost:5672", "orders", "$Default"); len(got) != 0 {
			t.Fatalf("checkpoints before any commit: %v", got)
		}
		if err := commitRanges(t, db, positions, job, rng("0", 0, 5), rng("1", 0, 0), rng("2", 0, 1)); err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"0": 4, "2": 0}
		for _, names := range [][3]string{{"localhost:5672", "orders", "$Default"}, {"LOCALHOST", "Orders", "$DEFAULT"}} {
			if got := checkpoints(t, store, names[0], names[1], names[2]); !maps.Equal(got, want) {
				t.Fatalf("checkpoints asked as %v: %v, want %v", names, got, want)
			}
		}
		if err := commitRanges(t, db, positions, job, rng("0", 5, 12), rng("1", 0, 3)); err != nil {
			t.Fatal(err)
		}
		want = map[string]int64{"0": 11, "1": 2, "2": 0}
		if got := checkpoints(t, store, "localhost:5672", "orders", "$Default"); !maps.Equal(got, want) {
			t.Fatalf("checkpoints after a second batch: %v, want %v", got, want)
		}
		// Another job's positions, or another group's, are not these.
		other := job
		other.Name, other.Output = "other", ""
		if err := commitRanges(t, db, positions, other, rng("0", 0, 100)); err != nil {
			t.Fatal(err)
		}
		if got := checkpoints(t, store, "localhost:5672", "orders", "$Default"); !maps.Equal(got, want) {
			t.Fatalf("another job's commit changed the checkpoints: %v, want %v", got, want)
		}
		if got := checkpoints(t, store, "localhost:5672", "orders", "cg1"); len(got) != 0 {
			t.Fatalf("checkpoints of another consumer group: %v", got)
		}

		// A stock Processor's UpdateCheckpoint after event 20 of partition 0.
		seq, offset := int64(20), "4096"
		err := store.SetCheckpoint(testCtx(t, 30*time.Second), azeventhubs.Checkpoint{FullyQualifiedNamespace: "LocalHost:5672",
			EventHubName: "ORDERS", ConsumerGroup: "$Default", PartitionID: "0", SequenceNumber: &seq, Offset: &offset}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// And one of a partition the job has no position for yet.
		seq3 := int64(6)
		if err := store.SetCheckpoint(testCtx(t, 30*time.Second), azeventhubs.Checkpoint{FullyQualifiedNamespace: "localhost:5672",
			EventHubName: "orders", ConsumerGroup: "$Default", PartitionID: "3", SequenceNumber: &seq3}, nil); err != nil {
			t.Fatal(err)
		}
		loaded, err := positions.LoadPositions(testCtx(t, 30*time.Second), job) // refuses positions of another output
		if err != nil {
			t.Fatal(err)
		}
		if p := loaded["0"]; p.SequenceNumber() != 21 || !p.Inclusive() {
			t.Fatalf("position of partition 0 after SetCheckpoint(20): %s, want 21 inclusive", p)
		}
		if p := loaded["3"]; p.SequenceNumber() != 7 {
			t.Fatalf("position of partition 3 after SetCheckpoint(6): %s, want 7", p)
		}
		ps, err := positions.Positions(testCtx(t, 30*time.Second), job)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Job.Output != job.Output && p.Partition != "3" {
				t.Fatalf("partition %s: output %q after SetCheckpoint, want %q kept", p.Partition, p.Job.Output, job.Output)
			}
		}
		var mismatch *offsets.MismatchError
		if err := commitRanges(t, db, positions, job, rng("0", 12, 30)); !errors.As(err, &mismatch) || mismatch.Stored != 21 {
			t.Fatalf("committing from the old position after SetCheckpoint: %v, want a mismatch at 21", err)
		}
		if err := commitRanges(t, db, positions, job, rng("0", 21, 30)); err != nil {
			t.Fatalf("committing from the checkpoint's position: %v", err)
		}
		if got := checkpoints(t, store, "localhost:5672", "orders", "$Default"); got["0"] != 29 || got["3"] != 6 {
			t.Fatalf("checkpoints after SetCheckpoint and a commit: %v", got)
		}

		noSeq := azeventhubs.Checkpoint{FullyQualifiedNamespace: "localhost:5672", EventHubName: "orders", ConsumerGroup: "$Default", PartitionID: "0", Offset: &offset}
		if err := store.SetCheckpoint(testCtx(t, 30*time.Second), noSeq, nil); err == nil || !strings.Contains(err.Error(), "sequence number") {
			t.Fatalf("SetCheckpoint without a sequence number: %v", err)
		}
	})
}

// The time of a claim is the database's clock, not the replica's: with a
// database clock an hour ahead of this process's, claims are an hour
// ahead too.
func TestClaimTimeIgnoresReplicaClock(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		_, store := sqlStores(t, db, job.Name)
		ownership.SetClock(store, "("+ownership.Clock(store)+" + 3600000)")
		got, err := store.ClaimOwnership(testCtx(t, 30*time.Second), []azeventhubs.Ownership{rec("0", "a", nil)}, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		ahead := time.Until(got[0].LastModifiedTime)
		if ahead < 59*time.Minute || ahead > 61*time.Minute {
			t.Fatalf("claimed at %s, %s from now; the database's clock is an hour ahead", got[0].LastModifiedTime, ahead)
		}
		// Renewing takes the database's time again.
		got, err = store.ClaimOwnership(testCtx(t, 30*time.Second), got, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("renew: %v %v", got, err)
		}
		if ahead := time.Until(got[0].LastModifiedTime); ahead < 59*time.Minute {
			t.Fatalf("renewed at %s, %s from now", got[0].LastModifiedTime, ahead)
		}
	})
}

// Replicas starting at once all open the store: the tables are created
// once, and none fails.
func TestConcurrentOpen(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		positions, store := sqlStores(t, db, job.Name)
		table := store.Table() + "_c"
		t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := ownership.NewSQLStore(testCtx(t, 30*time.Second), positions, job.Name, &ownership.SQLOptions{Table: table}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	})
}

func TestNewSQLStoreRefuses(t *testing.T) {
	db := openSQLite(t)
	positions, err := offsets.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		job, table, want string
	}{
		{"", "", "job's name is empty"},
		{"j", "bad-name", "table name"},
		{"j", offsets.DefaultTable, "holds the positions"},
	} {
		_, err := ownership.NewSQLStore(context.Background(), positions, c.job, &ownership.SQLOptions{Table: c.table})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSQLStore(job %q, table %q): %v, want an error saying %q", c.job, c.table, err, c.want)
		}
	}
}

func TestNamespace(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:5672":                 "localhost",
		"NS.servicebus.windows.net":      "ns.servicebus.windows.net",
		"127.0.0.1:40001":                "127.0.0.1",
		"[::1]:5672":                     "::1",
		"ns.servicebus.windows.net":      "ns.servicebus.windows.net",
		"Emulator.Local:5671":            "emulator.local",
		"ns.servicebus.chinacloudapi.cn": "ns.servicebus.chinacloudapi.cn",
	} {
		if got := ownership.Namespace(in); got != want {
			t.Errorf("Namespace(%q) = %q, want %q", in, got, want)
		}
	}
}

// Replicas judge a claim's age by the database's clock, which stamped it
// (Now), not by their own: with the database an hour ahead or behind, a
// replica renews its claims and claims every partition, one a round.
func TestBalancerJudgesExpiryByTheDatabaseClock(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		for _, shift := range []string{"+ 3600000", "- 3600000"} {
			_, store := sqlStores(t, db, job.Name)
			ownership.SetClock(store, "("+ownership.Clock(store)+" "+shift+")")
			now, err := store.Now(testCtx(t, 10*time.Second))
			if off := time.Until(now).Abs(); err != nil || off < 59*time.Minute || off > 61*time.Minute {
				t.Fatalf("clock %s: Now is %s (%v), an hour off this process's clock", shift, now, err)
			}
			b, err := balance.New(store, balance.Consumer{Namespace: "localhost:5672", EventHub: "orders", ConsumerGroup: "$default"}, "r1",
				&balance.Options{UpdateInterval: time.Second, Expiration: 6 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			parts := []string{"0", "1", "2", "3"}
			for range len(parts) {
				changes, err := b.Round(testCtx(t, 10*time.Second), parts)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range changes {
					if !c.Gained || c.Reason != "unowned" {
						t.Errorf("clock %s: %v, want only unowned partitions gained", shift, c)
					}
				}
			}
			if len(b.Owned()) != len(parts) {
				t.Errorf("clock %s: owns %v after %d rounds, want every partition", shift, b.Owned(), len(parts))
			}
		}
	})
}

// A claim records the job of the store that made it, and a replica of
// another job on the consumer group is refused while those claims live.
func TestClaimsRecordTheirJob(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		positions, archive := sqlStores(t, db, "archive")
		audit, err := ownership.NewSQLStore(testCtx(t, 10*time.Second), positions, "audit", &ownership.SQLOptions{Table: archive.Table()})
		if err != nil {
			t.Fatal(err)
		}
		consumer := balance.Consumer{Namespace: "localhost:5672", EventHub: "orders", ConsumerGroup: "$default"}
		a, err := balance.New(archive, consumer, "archive-1", &balance.Options{Strategy: balance.Greedy})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Round(testCtx(t, 10*time.Second), []string{"0", "1"}); err != nil {
			t.Fatal(err)
		}
		jobs, err := audit.OwnershipJobs(testCtx(t, 10*time.Second), "LOCALHOST:5672", "Orders", "$Default")
		if err != nil || jobs["0"] != "archive" || jobs["1"] != "archive" {
			t.Fatalf("OwnershipJobs: %v (%v), want both partitions claimed for archive", jobs, err)
		}
		b, err := balance.New(audit, consumer, "audit-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		var other *balance.OtherJobError
		if err := b.CheckJob(testCtx(t, 10*time.Second)); !errors.As(err, &other) || other.Other != "archive" {
			t.Errorf("CheckJob of audit: %v, want an *OtherJobError naming archive", err)
		}
		if _, err := b.Round(testCtx(t, 10*time.Second), []string{"0", "1"}); !errors.As(err, &other) {
			t.Errorf("a round of audit: %v, want an *OtherJobError", err)
		}
	})
}

// An ownership table made before records named their job gets the
// column when the store opens it; its records say no job.
func TestOwnershipTableOfAnOlderVersion(t *testing.T) {
	sqlDatabases(t, func(t *testing.T, db *sql.DB, dialect offsets.Dialect) {
		positions, err := offsets.Open(testCtx(t, 10*time.Second), db, &offsets.Options{Table: "offsets_t" + unique("")})
		if err != nil {
			t.Fatal(err)
		}
		table := "ownership_old" + unique("")
		t.Cleanup(func() { db.Exec("DROP TABLE " + table); db.Exec("DROP TABLE " + positions.Table()) })
		if _, err := db.Exec(`CREATE TABLE ` + table + ` (namespace TEXT NOT NULL, eventhub TEXT NOT NULL, consumer_group TEXT NOT NULL, partition_id TEXT NOT NULL,
			owner_id TEXT NOT NULL, modified_ms BIGINT NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (namespace, eventhub, consumer_group, partition_id))`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO ` + table + ` VALUES ('localhost', 'orders', '$default', '0', 'old', 0, 'e1')`); err != nil {
			t.Fatal(err)
		}
		store, err := ownership.NewSQLStore(testCtx(t, 10*time.Second), positions, "archive", &ownership.SQLOptions{Table: table})
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := store.OwnershipJobs(testCtx(t, 10*time.Second), "localhost", "orders", "$default")
		if err != nil || len(jobs) != 1 || jobs["0"] != "" {
			t.Errorf("OwnershipJobs of the old record: %v (%v), want partition 0 with no job", jobs, err)
		}
	})
}
