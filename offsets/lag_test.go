package offsets_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// startHub runs an in-memory Event Hubs whose hub "orders" has the given
// number of events in each partition, and returns a conf for it and each
// partition's events.
func startHub(t *testing.T, events ...int) (*eventhubs.Conf, [][]*eventhubs.Event) {
	t.Helper()
	ctx := ctx(t)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: len(events), ConsumerGroups: []string{"monitor"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eventhubs.CloseAll(c)
		srv.Close()
	})
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("orders"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	conf := eventhubs.NewConf(srv.ConnectionString("orders")).SetReceiverTimeout(5 * time.Second).SetOperationTimeout(10 * time.Second)
	var ranges []eventhubs.OffsetRange
	for i, n := range events {
		id := string(rune('0' + i))
		ranges = append(ranges, eventhubs.OffsetRange{Name: "orders", PartitionID: id, FromSeqNo: 0, UntilSeqNo: int64(n)})
		if n == 0 {
			continue
		}
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte("x")}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		t.Fatal(err)
	}
	all, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byPartition := make([][]*eventhubs.Event, len(events))
	for _, ev := range all {
		i := int(ev.PartitionID[0] - '0')
		byPartition[i] = append(byPartition[i], ev)
	}
	return conf, byPartition
}

// A job's lag is the events after its stored positions, and the enqueued
// time of the first of them; a partition without a position counts from
// its start. A job without positions, or a conf of another hub, is an
// error naming the job.
func TestStoreLag(t *testing.T) {
	conf, events := startHub(t, 8, 3, 0)
	lagJob, err := offsets.JobFor("lagging", conf)
	if err != nil {
		t.Fatal(err)
	}
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		tx, err := db.BeginTx(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := store.CommitOffsets(ctx(t), tx, lagJob, []eventhubs.OffsetRange{
			{Name: "orders", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 5},
			{Name: "orders", PartitionID: "2", FromSeqNo: 0, UntilSeqNo: 0},
		}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		lags, err := store.Lag(ctx(t), lagJob, conf.Clone().SetConsumerGroup("monitor"))
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			next, events int64
			oldest       time.Time
		}{{5, 3, events[0][5].EnqueuedTime}, {0, 3, events[1][0].EnqueuedTime}, {0, 0, time.Time{}}}
		if len(lags) != len(want) {
			t.Fatalf("Lag = %+v, want %d partitions", lags, len(want))
		}
		for i, w := range want {
			l := lags[i]
			if l.Next != w.next || l.Events != w.events || !l.OldestUnread.Equal(w.oldest) || l.Err != nil {
				t.Errorf("partition %s: next %d, %d events, oldest unread %s (%v); want next %d, %d events, oldest unread %s",
					l.PartitionID, l.Next, l.Events, l.OldestUnread, l.Err, w.next, w.events, w.oldest)
			}
		}

		other := lagJob
		other.Name = "never-ran"
		if _, err := store.Lag(ctx(t), other, conf); err == nil || !strings.Contains(err.Error(), `"never-ran"`) {
			t.Errorf("Lag of a job without positions: %v; want an error naming it", err)
		}
		elsewhere := lagJob
		elsewhere.EventHub = "payments"
		if _, err := store.Lag(ctx(t), elsewhere, conf); err == nil || !strings.Contains(err.Error(), "payments") {
			t.Errorf("Lag of a job of another hub: %v; want an error naming the job", err)
		}
	})
}
