package ownership_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
)

// totalEvent is event i of a partition: key and value follow from i, so
// the running totals' oracle needs no record of what was sent.
func totalEvent(i int) (key string, value int64) {
	return string(rune('a' + i%5)), int64(i%7 + 1)
}

// fillTotals sends events [from, from+n) of each partition of "orders".
func fillTotals(t *testing.T, ctx context.Context, srv *emulator.Server, from, n int) {
	fillBodies(t, ctx, srv, from, n, func(i int) []byte {
		k, v := totalEvent(i)
		return fmt.Appendf(nil, "%s:%d", k, v)
	})
}

// totalRow is what the job writes per event: the key's running total in
// its partition after the event.
type totalRow struct {
	Partition string
	Seq       int64
	Key       string
	Total     int64
}

// startTotalsReplica runs a replica of a job that keeps a running total per
// key with MapWithState, its state kept per partition beside the
// positions, and writes each event's total with CommitBatch.
func startTotalsReplica(t *testing.T, srv *emulator.Server, store azeventhubs.CheckpointStore, db *sql.DB, positions *offsets.Store, job offsets.Job, owner, table string) *replica {
	t.Helper()
	r := &replica{done: make(chan error, 1)}
	var err error
	if r.ssc, err = streaming.NewContext(50*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true}); err != nil {
		t.Fatal(err)
	}
	conf := eventhubs.NewConf(srv.ConnectionString("orders")).SetMaxRatePerPartition(15).SetReceiverTimeout(5 * time.Second)
	ds, err := eventhubs.CreateDirectStream(r.ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	events, err := eventhubs.Events(ds)
	if err != nil {
		t.Fatal(err)
	}
	pairs := streaming.Map(events, func(ev *eventhubs.Event) streaming.KV[string, totalRow] {
		k, v, _ := strings.Cut(string(ev.Body), ":")
		n, _ := strconv.ParseInt(v, 10, 64)
		return streaming.KV[string, totalRow]{Key: k, Value: totalRow{Partition: ev.PartitionID, Seq: ev.SequenceNumber, Key: k, Total: n}}
	})
	totals, err := streaming.MapWithState(pairs, streaming.StateSpec[string, totalRow, int64, totalRow]{
		Func: func(key string, row totalRow, state *streaming.State[int64]) totalRow {
			sum, _ := state.Get()
			sum += row.Total
			state.Update(sum)
			row.Total = sum
			return row
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := positions.PartitionState(testCtx(t, 30*time.Second), job)
	if err != nil {
		t.Fatal(err)
	}
	if err := streaming.KeepStatePerPartition(pairs, ps); err != nil {
		t.Fatal(err)
	}
	streaming.ForeachBatch(totals.Named("totals"), func(ctx context.Context, b *streaming.BatchData[totalRow]) error {
		rows, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		return positions.CommitBatch(ctx, job, offsets.BatchOf(b), func(ctx context.Context, tx *sql.Tx) error {
			for _, row := range rows {
				if _, err := tx.ExecContext(ctx, positions.Dialect().Rebind(`INSERT INTO `+table+` (partition_id, seq, k, total, owner) VALUES (?, ?, ?, ?, ?)`),
					row.Partition, row.Seq, row.Key, row.Total, owner); err != nil {
					return err
				}
			}
			return nil
		})
	})
	err = ds.SetOwnershipStore(store, &eventhubs.OwnershipOptions{
		OwnerID: owner, UpdateInterval: 200 * time.Millisecond, Expiration: 3 * time.Second, Positions: positions.StoredPositions(job),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.run(t)
	return r
}

// A replica that takes over a partition goes on with its state: the
// running totals after each takeover equal the oracle's, in SQLite and in
// PostgreSQL.
func TestPartitionStateMovesWithItsPartition(t *testing.T) {
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) {
			var db *sql.DB
			if dbName == "sqlite" {
				db = openSQLite(t)
			} else {
				db = openPostgres(t)
			}
			testPartitionStateMoves(t, db)
		})
	}
}

func testPartitionStateMoves(t *testing.T, db *sql.DB) {
	ctx := testCtx(t, 150*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: sharedPartitions}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()); srv.Close() })
	job, err := offsets.JobFor("totals-job", eventhubs.NewConf(srv.ConnectionString("orders")))
	if err != nil {
		t.Fatal(err)
	}
	positions, store := sqlStores(t, db, job.Name)
	table := unique("totals_")
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (partition_id TEXT, seq BIGINT, k TEXT, total BIGINT, owner TEXT, PRIMARY KEY (partition_id, seq))`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP TABLE " + table)
		db.Exec("DROP TABLE " + positions.Table() + offsets.StateTableSuffix)
	})
	waitRows := func(want int, reps ...*replica) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == want {
				return
			}
			for _, r := range reps {
				select {
				case err := <-r.done:
					t.Fatalf("a replica stopped: %v", err)
				default:
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d rows after 60s, want %d", n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOwners := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n := map[string]int{}
			for _, o := range ownersOf(t, store, srv.Addr()) {
				n[o]++
			}
			if fmt.Sprint(n) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("owners %v, want %v", n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	a := startTotalsReplica(t, srv, store, db, positions, job, "a", table)
	fillTotals(t, ctx, srv, 0, 60)
	waitRows(60*sharedPartitions, a)
	b := startTotalsReplica(t, srv, store, db, positions, job, "b", table)
	waitOwners(map[string]int{"a": 2, "b": 2})
	fillTotals(t, ctx, srv, 60, 60)
	waitRows(120*sharedPartitions, a, b)
	a.ssc.Stop(false) // a relinquishes its partitions; b takes them with their state
	<-a.done
	waitOwners(map[string]int{"": 2, "b": 2}) // relinquished records read as free...
	fillTotals(t, ctx, srv, 120, 60)
	waitOwners(map[string]int{"b": 4}) // ...until b claims them
	waitRows(180*sharedPartitions, b)

	rows, err := db.QueryContext(ctx, `SELECT partition_id, seq, k, total, owner FROM `+table+` ORDER BY partition_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sums := map[string]int64{}
	byOwner := map[string]map[string]bool{} // partition -> owners that wrote it
	for rows.Next() {
		var r totalRow
		var owner string
		if err := rows.Scan(&r.Partition, &r.Seq, &r.Key, &r.Total, &owner); err != nil {
			t.Fatal(err)
		}
		k, v := totalEvent(int(r.Seq))
		sums[r.Partition+"/"+k] += v
		if r.Key != k || r.Total != sums[r.Partition+"/"+k] {
			t.Fatalf("partition %s seq %d (by %s): key %s total %d, want key %s total %d", r.Partition, r.Seq, owner, r.Key, r.Total, k, sums[r.Partition+"/"+k])
		}
		if byOwner[r.Partition] == nil {
			byOwner[r.Partition] = map[string]bool{}
		}
		byOwner[r.Partition][owner] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, owners := range byOwner {
		if owners["a"] && owners["b"] {
			moved++
		}
	}
	if moved < 2 {
		t.Fatalf("partitions written by both replicas: %d, want at least 2 (the takeover did not happen): %v", moved, byOwner)
	}
}
