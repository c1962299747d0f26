package offsets_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// A position is stored with the creation time of the hub its batch read,
// and moves only on that hub: a range of a hub created again, at the same
// position, is data loss, not a batch to commit. A range that resets the
// numbering (ResetFrom), or one that does not know its hub, moves it.
func TestCommitOffsetsKeepsAPositionOnItsHub(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		t1 := time.UnixMilli(1_700_000_000_000).UTC()
		t2 := t1.Add(time.Hour)
		on := func(r eventhubs.OffsetRange, created time.Time) eventhubs.OffsetRange {
			r.HubCreatedOn = created
			return r
		}
		if err := commit(t, db, store, on(rng("0", 0, 300), t1)); err != nil {
			t.Fatal(err)
		}
		err := commit(t, db, store, on(rng("0", 300, 400), t2))
		if !eventhubs.HasCode(err, eventhubs.CodeDataLoss) || !strings.Contains(err.Error(), "created again") {
			t.Fatalf("a range of the hub created again at the stored position: %v, want a data-loss error", err)
		}
		var st eventhubs.StaleRange
		if errors.As(err, &st) {
			t.Errorf("the error is a stale range (%v): a stream would plan the same range again forever", err)
		}
		reset := on(rng("0", 0, 50), t2)
		reset.ResetFrom = 300
		if err := commit(t, db, store, reset); err != nil {
			t.Fatalf("the range that resets to the new hub: %v", err)
		}
		if err := commit(t, db, store, on(rng("0", 50, 60), t2)); err != nil {
			t.Fatalf("the next range on the new hub: %v", err)
		}
		if err := commit(t, db, store, rng("0", 60, 70)); err != nil {
			t.Fatalf("a range that does not know its hub: %v", err)
		}
		if err := commit(t, db, store, on(rng("0", 70, 80), t1)); !eventhubs.HasCode(err, eventhubs.CodeDataLoss) {
			t.Errorf("a range of the old hub after the reset: %v, want a data-loss error", err)
		}
		checkPositions(t, store, map[string]int64{"0": 70})
	})
}

func checkPositions(t *testing.T, store *offsets.Store, want map[string]int64) {
	t.Helper()
	ps, err := store.Positions(ctx(t), job)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, p := range ps {
		got[p.Partition] = p.Next
	}
	if len(got) != len(want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("positions %v, want %v", got, want)
		}
	}
}

// Resume stores every partition's starting position on the job's first
// start, resolved then (latest: the end of each partition at that moment),
// and on later starts finds them whatever events arrived since; a
// partition without a position on a later start is read from its first
// event.
func TestResumeStoresTheStartingPositionsOnce(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		conf, _ := startHub(t, 5, 0, 3)
		conf.SetStartingPosition(eventhubs.EndOfStream())
		j := offsets.Job{Name: "resume", Namespace: "127.0.0.1", EventHub: "orders", ConsumerGroup: "$Default", Output: "events"}
		r, err := store.Resume(ctx(t), j, conf)
		if err != nil {
			t.Fatal(err)
		}
		if r.Stored != 0 || r.Job.Namespace != "127.0.0.1" {
			t.Errorf("first start: %+v, want no stored partitions and the job as given", r)
		}
		want := map[string]int64{"0": 5, "1": 0, "2": 3}
		for id, n := range want {
			if p := conf.StartingPositions()[id]; p.Kind() != eventhubs.PositionSequenceNumber || p.SequenceNumber() != n || !p.Inclusive() {
				t.Errorf("partition %s starts at %s, want sequence number %d", id, p, n)
			}
		}
		ps, err := store.Positions(ctx(t), j)
		if err != nil || len(ps) != 3 {
			t.Fatalf("stored positions %+v (%v), want 3", ps, err)
		}
		// A second start, as another replica or after a restart: latest is
		// not resolved again.
		conf2 := conf.Clone().SetStartingPositions(nil)
		if r, err := store.Resume(ctx(t), j, conf2); err != nil || r.Stored != 3 {
			t.Fatalf("second start: %+v, %v; want the 3 stored positions", r, err)
		}
		if p := conf2.StartingPositions()["0"]; p.SequenceNumber() != 5 {
			t.Errorf("second start: partition 0 at %s, want 5", p)
		}
	})
}

// A hub reached under another host name is the same hub when its creation
// time is the one stored with the job's positions: Resume goes on from
// them and names the stored spelling. Positions stored for a hub created
// at another time, or stored before creation times were kept, are not
// taken for this hub's: Resume refuses, naming the stored spelling.
func TestResumeKnowsTheHubUnderAnotherName(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		conf, _ := startHub(t, 4)
		hp, err := eventhubs.DescribeHub(ctx(t), conf)
		if err != nil {
			t.Fatal(err)
		}
		stored := offsets.Job{Name: "alias", Namespace: "ns.example.com", EventHub: "orders", ConsumerGroup: "$Default", Output: "events"}
		r := rng("0", 0, 4)
		r.HubCreatedOn = hp.CreatedOn
		tx, err := db.BeginTx(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CommitOffsets(ctx(t), tx, stored, []eventhubs.OffsetRange{r}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		here := stored
		here.Namespace = "127.0.0.1" // the conf's host
		res, err := store.Resume(ctx(t), here, conf)
		if err != nil {
			t.Fatal(err)
		}
		if res.Job.Namespace != "ns.example.com" || res.Stored != 1 || conf.StartingPositions()["0"].SequenceNumber() != 4 {
			t.Errorf("Resume through another name: %+v, partition 0 at %s; want the stored spelling and position 4", res, conf.StartingPositions()["0"])
		}
		// The same positions, stored for a hub created at another time.
		if _, err := db.Exec(`UPDATE ` + store.Table() + ` SET hub_created_ms = hub_created_ms - 1000`); err != nil {
			t.Fatal(err)
		}
		_, err = store.Resume(ctx(t), here, conf)
		var conflict *offsets.ConflictError
		if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "ns.example.com") {
			t.Errorf("Resume with positions of another hub under another name: %v, want a *ConflictError naming ns.example.com", err)
		}
		if _, err := db.Exec(`UPDATE ` + store.Table() + ` SET hub_created_ms = NULL`); err != nil {
			t.Fatal(err)
		}
		if _, err = store.Resume(ctx(t), here, conf); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "ns.example.com") {
			t.Errorf("Resume with positions stored before creation times: %v, want a *ConflictError naming ns.example.com", err)
		}
	})
}

// A hub created again (another creation time than the positions'): with
// FailOnDataLoss Resume fails, changing nothing; without, the positions
// move to 0 on the new hub.
func TestResumeFindsTheHubCreatedAgain(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		conf, _ := startHub(t, 4, 2)
		j := offsets.Job{Name: "again", Namespace: "127.0.0.1", EventHub: "orders", ConsumerGroup: "$Default", Output: "events"}
		if _, err := store.Resume(ctx(t), j, conf); err != nil {
			t.Fatal(err)
		}
		// The positions of a hub created an hour before this one, stored
		// at 3 and 1.
		if _, err := db.Exec(`UPDATE ` + store.Table() + ` SET hub_created_ms = hub_created_ms - 3600000, next_seq = next_seq + 1`); err != nil {
			t.Fatal(err)
		}
		_, err := store.Resume(ctx(t), j, conf)
		if !eventhubs.HasCode(err, eventhubs.CodeDataLoss) || !strings.Contains(err.Error(), "created again") {
			t.Fatalf("with FailOnDataLoss: %v, want a data-loss error saying the hub was created again", err)
		}
		conf.SetFailOnDataLoss(false)
		if _, err := store.Resume(ctx(t), j, conf); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"0", "1"} {
			if p := conf.StartingPositions()[id]; p.SequenceNumber() != 0 {
				t.Errorf("partition %s starts at %s on the new hub, want 0", id, p)
			}
		}
		// Moved once: the next start goes on from the new hub's positions.
		if _, err := store.Resume(ctx(t), j, conf.SetFailOnDataLoss(true)); err != nil {
			t.Errorf("the start after the move: %v", err)
		}
	})
}
