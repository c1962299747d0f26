package eventhubs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// Lag counts the events after each position, as a read of them finds, and
// gives the enqueued time of the first of them. It reads without an owner
// level: in a consumer group another reader holds exclusively (a running
// job), the time is unknown with an error saying so, the count still
// right, and the reader keeps its partition; in another group it is read.
func TestLag(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "lag", PartitionCount: 4, ConsumerGroups: []string{"monitor"}})
	ctx := testCtx(t, 60*time.Second)
	conf := testConf(srv, "lag")
	fill(t, ctx, srv, "lag", "0", 0, 10)
	fill(t, ctx, srv, "lag", "1", 0, 5)
	fill(t, ctx, srv, "lag", "3", 0, 3)
	// Partition 3 has no position: counted from its first event.
	next := map[string]int64{"0": 4, "1": 5, "2": 0}

	// What is unread, as a read finds it (in a group no job holds).
	monitor := conf.Clone().SetConsumerGroup("monitor")
	unread := func(p string, from int64) (int, time.Time) {
		t.Helper()
		hp, err := eventhubs.DescribeHub(ctx, monitor)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range hp.Partitions {
			if b.PartitionID != p {
				continue
			}
			rdd, err := eventhubs.CreateRDD(ctx, monitor, []eventhubs.OffsetRange{{Name: "lag", PartitionID: p, FromSeqNo: from, UntilSeqNo: b.End}})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := rdd.Collect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				return 0, time.Time{}
			}
			return len(evs), evs[0].EnqueuedTime
		}
		t.Fatalf("no partition %s", p)
		return 0, time.Time{}
	}
	check := func(what string, lags []eventhubs.PartitionLag, unknown string) {
		t.Helper()
		if len(lags) != 4 {
			t.Fatalf("%s: %d partitions, want 4: %+v", what, len(lags), lags)
		}
		for i, l := range lags {
			from, ok := next[l.PartitionID]
			if !ok {
				from = 0
			}
			n, oldest := unread(l.PartitionID, from)
			if l.PartitionID != []string{"0", "1", "2", "3"}[i] || l.Next != from || l.Events != int64(n) {
				t.Errorf("%s: partition %s: next %d, %d events behind; want partition %d at %d, %d events (as read)", what, l.PartitionID, l.Next, l.Events, i, from, n)
			}
			if l.PartitionID == unknown {
				if !l.OldestUnread.IsZero() || errCode(l.Err) != eventhubs.CodeOwnershipLost || !strings.Contains(l.Err.Error(), "another consumer group") {
					t.Errorf("%s: partition %s, held by another reader: oldest unread %s, err %v; want unknown, %s saying to read with another consumer group",
						what, l.PartitionID, l.OldestUnread, l.Err, eventhubs.CodeOwnershipLost)
				}
				continue
			}
			if !l.OldestUnread.Equal(oldest) || l.Err != nil {
				t.Errorf("%s: partition %s: oldest unread %s (%v), want %s, the enqueued time of event %d", what, l.PartitionID, l.OldestUnread, l.Err, oldest, from)
			}
			if age := l.TimeLag(time.Now()); (n == 0) != (age == 0) || age > time.Minute {
				t.Errorf("%s: partition %s: time lag %s with %d events unread", what, l.PartitionID, age, n)
			}
		}
	}

	lags, err := eventhubs.Lag(ctx, conf, next)
	if err != nil {
		t.Fatal(err)
	}
	check("Lag", lags, "")

	// A job holds partition 0 exclusively in $Default.
	job := newReader(t, ctx, srv, "lag", "0", true)
	lags, err = eventhubs.Lag(ctx, conf, next)
	if err != nil {
		t.Fatal(err)
	}
	check("Lag in the job's consumer group", lags, "0")
	lags, err = eventhubs.Lag(ctx, monitor, next)
	if err != nil {
		t.Fatal(err)
	}
	check("Lag in another consumer group", lags, "")
	if err := job.receive(ctx); err != nil {
		t.Errorf("the job lost its partition to Lag: %v", err)
	}

	if _, err := eventhubs.Lag(ctx, conf, map[string]int64{"7": 0}); errCode(err) != eventhubs.CodeInvalidRange || !strings.Contains(err.Error(), "partition 7") {
		t.Errorf("Lag of a partition the hub does not have: %v; want %s naming it", err, eventhubs.CodeInvalidRange)
	}
}
