package offsets_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	_ "modernc.org/sqlite"
)

// The guide's "Your own data store": results and offsets in one
// transaction; a batch that was committed already is refused, and rolling
// back keeps the results exact.
func ExampleStore_CommitOffsets() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "offsets-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "results.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec(`CREATE TABLE totals (name TEXT PRIMARY KEY, events BIGINT)`)
	db.Exec(`INSERT INTO totals VALUES ('all', 0)`)

	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		log.Fatal(err)
	}
	job := offsets.Job{Name: "totals", Namespace: "myns.servicebus.windows.net", EventHub: "orders", ConsumerGroup: "$Default"}

	// output is what a ForeachRDD function does with a batch's ranges.
	output := func(ranges []eventhubs.OffsetRange) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var n int64
		for _, r := range ranges {
			n += r.Count()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE totals SET events = events + ? WHERE name = 'all'`, n); err != nil {
			return err
		}
		if err := store.CommitOffsets(ctx, tx, job, ranges); err != nil {
			return err
		}
		return tx.Commit()
	}

	batch1 := []eventhubs.OffsetRange{{Name: "orders", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100}}
	batch2 := []eventhubs.OffsetRange{{Name: "orders", PartitionID: "0", FromSeqNo: 100, UntilSeqNo: 150}}
	fmt.Println("batch 1:", output(batch1))
	fmt.Println("batch 2:", output(batch2))
	err = output(batch2) // a replay, as after a crash between output and checkpoint
	var mismatch *offsets.MismatchError
	fmt.Println("batch 2 again refused:", errors.As(err, &mismatch), "stored", mismatch.Stored, "expected", mismatch.Expected)

	var total int64
	db.QueryRow(`SELECT events FROM totals`).Scan(&total)
	positions, _ := store.LoadPositions(ctx, job) // where a restarted stream begins
	fmt.Println("events:", total, "resume partition 0 at", positions["0"])
	// Output:
	// batch 1: <nil>
	// batch 2: <nil>
	// batch 2 again refused: true stored 150 expected 100
	// events: 150 resume partition 0 at seq:150
}
