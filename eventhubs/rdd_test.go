package eventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

var errorsAs = errors.As

// Exact ranges over four partitions, read in parallel: every event of
// [from, until) once, in order, and nothing outside it.
func TestCreateRDDReadsExactRanges(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "orders", PartitionCount: 4})
	ctx := testCtx(t, 60*time.Second)
	sizes := map[string]int{"0": 500, "1": 120, "2": 3000, "3": 7}
	for p, n := range sizes {
		fill(t, ctx, srv, "orders", p, 0, n)
	}
	ranges := []eventhubs.OffsetRange{
		{Name: "orders", PartitionID: "0", FromSeqNo: 100, UntilSeqNo: 400},
		{Name: "orders", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 120},
		{Name: "orders", PartitionID: "2", FromSeqNo: 1, UntilSeqNo: 2999},
		{Name: "orders", PartitionID: "3", FromSeqNo: 3, UntilSeqNo: 3},
	}
	rdd, err := eventhubs.CreateRDD(ctx, testConf(srv, "orders"), ranges)
	if err != nil {
		t.Fatalf("CreateRDD: %v", err)
	}
	if got, want := rdd.Count(), int64(300+120+2998); got != want {
		t.Errorf("Count() = %d, want %d", got, want)
	}
	if got := rdd.OffsetRanges(); fmt.Sprint(got) != fmt.Sprint(ranges) {
		t.Errorf("OffsetRanges() = %v, want %v", got, ranges)
	}

	var mu sync.Mutex
	running, maxRunning := 0, 0
	seen := make([][]int64, len(ranges))
	err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		mu.Lock()
		running++
		maxRunning = max(maxRunning, running)
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		r := p.Range()
		for ev, err := range p.Events() {
			if err != nil {
				return err
			}
			if ev.PartitionID != r.PartitionID {
				return fmt.Errorf("event of partition %s in task for %s", ev.PartitionID, r.PartitionID)
			}
			if want := body(r.PartitionID, int(ev.SequenceNumber)); string(ev.Body) != want {
				return fmt.Errorf("seq %d has body %q, want %q", ev.SequenceNumber, ev.Body, want)
			}
			if ev.Properties["i"] != ev.SequenceNumber || ev.Offset == "" || ev.EnqueuedTime.IsZero() {
				return fmt.Errorf("seq %d: properties %v, offset %q, enqueued %v", ev.SequenceNumber, ev.Properties, ev.Offset, ev.EnqueuedTime)
			}
			seen[p.Index()] = append(seen[p.Index()], ev.SequenceNumber)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ForeachPartition: %v", err)
	}
	for i, r := range ranges {
		if int64(len(seen[i])) != r.Count() {
			t.Errorf("range %s: read %d events, want %d", r, len(seen[i]), r.Count())
			continue
		}
		for j, seq := range seen[i] {
			if seq != r.FromSeqNo+int64(j) {
				t.Errorf("range %s: event %d has seq %d, want %d", r, j, seq, r.FromSeqNo+int64(j))
				break
			}
		}
	}
	if maxRunning < 2 {
		t.Errorf("at most %d partition tasks ran at once, want them in parallel", maxRunning)
	}

	// Collect: the same events, in range order.
	all, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if int64(len(all)) != rdd.Count() || all[0].SequenceNumber != 100 || all[len(all)-1].SequenceNumber != 2998 || all[300].PartitionID != "1" {
		t.Errorf("Collect: %d events, first seq %d, last seq %d", len(all), all[0].SequenceNumber, all[len(all)-1].SequenceNumber)
	}
}

// The guide's example reads the same range twice in one RDD: both tasks
// get every event (they take turns on the partition's receiver).
func TestCreateRDDSameRangeTwice(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "test", PartitionCount: 1})
	ctx := testCtx(t, 30*time.Second)
	fill(t, ctx, srv, "test", "0", 0, 100)
	r := eventhubs.OffsetRange{Name: "test", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100}
	rdd, err := eventhubs.CreateRDD(ctx, testConf(srv, "test"), []eventhubs.OffsetRange{r, r})
	if err != nil {
		t.Fatal(err)
	}
	all, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 200 || all[99].SequenceNumber != 99 || all[100].SequenceNumber != 0 {
		t.Fatalf("read %d events, want 0..99 twice", len(all))
	}
}

// Consecutive ranges reuse the partition's receiver: no new link is
// attached when a read starts where the last ended, and one is when it
// does not.
func TestCreateRDDReusesReceiver(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "hub", PartitionCount: 2})
	ctx := testCtx(t, 30*time.Second)
	fill(t, ctx, srv, "hub", "0", 0, 300)
	conf := testConf(srv, "hub")
	read := func(from, until int64) []*eventhubs.Event {
		t.Helper()
		rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "hub", PartitionID: "0", FromSeqNo: from, UntilSeqNo: until}})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := rdd.Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(evs)) != until-from || (len(evs) > 0 && (evs[0].SequenceNumber != from || evs[len(evs)-1].SequenceNumber != until-1)) {
			t.Fatalf("read [%d, %d): got %d events", from, until, len(evs))
		}
		return evs
	}
	links := func() int64 { return srv.Stats().ConsumerLinks }

	read(0, 50)
	if got := links(); got != 1 {
		t.Fatalf("after the first read: %d consumer links, want 1", got)
	}
	read(50, 120)
	read(120, 121)
	read(121, 300)
	if got := links(); got != 1 {
		t.Errorf("after three consecutive reads: %d consumer links, want 1 (the receiver was not reused)", got)
	}
	read(10, 20) // not where the receiver stands: a new link
	if got := links(); got != 2 {
		t.Errorf("after a read elsewhere: %d consumer links, want 2", got)
	}

	// Stopping early drops the link with what it had received past the
	// stop: kept, those events would be handed out later by no receive
	// that could notice another reader took the partition. The next read
	// opens a link.
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "hub", PartitionID: "0", FromSeqNo: 20, UntilSeqNo: 200}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		for _, err := range p.Events() {
			if err != nil {
				return err
			}
			if n++; n == 30 {
				break
			}
		}
		return nil
	})
	if err != nil || n != 30 {
		t.Fatalf("early stop: %d events, err %v", n, err)
	}
	read(50, 300)
	if got := links(); got != 3 {
		t.Errorf("after reading on from an early stop: %d consumer links, want 3", got)
	}
}

// A range below the partition's first event: an error with FailOnDataLoss,
// and with it off, the rest is read and the loss counted.
func TestCreateRDDDataLoss(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "short", PartitionCount: 1, Retention: time.Second})
	ctx := testCtx(t, 60*time.Second)
	fill(t, ctx, srv, "short", "0", 0, 5)
	conf := testConf(srv, "short")
	waitFor(t, 20*time.Second, "retention to remove the first 5 events", func() bool {
		hp, err := eventhubs.DescribeHub(ctx, conf)
		return err == nil && hp.Partitions[0].First == 5
	})
	fill(t, ctx, srv, "short", "0", 5, 3)
	ranges := []eventhubs.OffsetRange{{Name: "short", PartitionID: "0", FromSeqNo: 2, UntilSeqNo: 8}}

	_, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if errCode(err) != eventhubs.CodeDataLoss {
		t.Fatalf("CreateRDD with FailOnDataLoss: err = %v, want %s", err, eventhubs.CodeDataLoss)
	}
	for _, want := range []string{`"short"`, "partition 0", "wanted sequence number 2", "first available is 5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	rdd, err := eventhubs.CreateRDD(ctx, conf.Clone().SetFailOnDataLoss(false), ranges)
	if err != nil {
		t.Fatalf("CreateRDD without FailOnDataLoss: %v", err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].SequenceNumber != 5 || string(evs[2].Body) != "p0-7" {
		t.Errorf("read %d events (first %v), want seq 5..7", len(evs), evs)
	}
	if rdd.Skipped() != 3 {
		t.Errorf("Skipped() = %d, want 3 (seq 2, 3, 4)", rdd.Skipped())
	}
}

// A range past the last event + 1 is an error that names the partition and
// what it holds; so are other hubs, unknown partitions and bad ranges.
func TestCreateRDDBadRanges(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "hub", PartitionCount: 2})
	ctx := testCtx(t, 30*time.Second)
	fill(t, ctx, srv, "hub", "1", 0, 10)
	conf := testConf(srv, "hub")
	cases := []struct {
		r    eventhubs.OffsetRange
		code eventhubs.ErrorCode
		says []string
	}{
		{eventhubs.OffsetRange{Name: "hub", PartitionID: "1", FromSeqNo: 5, UntilSeqNo: 11}, eventhubs.CodeRangeOutOfBounds, []string{"partition 1", "[5, 11)", "holds [0, 10)"}},
		{eventhubs.OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}, eventhubs.CodeRangeOutOfBounds, []string{"partition 0", "holds [0, 0)"}},
		{eventhubs.OffsetRange{Name: "hub", PartitionID: "7", FromSeqNo: 0, UntilSeqNo: 1}, eventhubs.CodeInvalidRange, []string{"partition 7", "no such partition"}},
		{eventhubs.OffsetRange{Name: "other", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}, eventhubs.CodeInvalidRange, []string{`"other"`, `"hub"`}},
		{eventhubs.OffsetRange{Name: "hub", PartitionID: "1", FromSeqNo: 5, UntilSeqNo: 4}, eventhubs.CodeInvalidRange, []string{"until is below from"}},
	}
	for _, c := range cases {
		_, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{c.r})
		if errCode(err) != c.code {
			t.Errorf("%s: err = %v, want code %s", c.r, err, c.code)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", c.r, err, s)
			}
		}
	}
}

// An unknown hub or consumer group fails at once, not after retries.
func TestCreateRDDNotFound(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "hub", PartitionCount: 1})
	ctx := testCtx(t, 30*time.Second)
	for _, conf := range []*eventhubs.Conf{
		testConf(srv, "nohub"),
		testConf(srv, "hub").SetConsumerGroup("nogroup"),
	} {
		start := time.Now()
		_, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: conf.EventHubName(), PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 0}})
		if err == nil {
			// Management calls do not name a consumer group: the receiver does.
			fill(t, ctx, srv, "hub", "0", 0, 1)
			var rdd *eventhubs.RDD
			rdd, err = eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}})
			if err == nil {
				_, err = rdd.Collect(ctx)
			}
		}
		if errCode(err) != eventhubs.CodeNotFound {
			t.Errorf("%s / %s: err = %v, want %s", conf.EventHubName(), conf.ConsumerGroup(), err, eventhubs.CodeNotFound)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s / %s: took %s to fail", conf.EventHubName(), conf.ConsumerGroup(), d)
		}
	}
}

// Events carry what the sender set.
func TestEventFields(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "hub", PartitionCount: 2})
	ctx := testCtx(t, 30*time.Second)
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("hub"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	key, ct, id := "device-7", "application/json", "m-1"
	batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionKey: &key})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte(`{"t":21.5}`), ContentType: &ct, MessageID: &id,
		Properties: map[string]any{"unit": "C", "n": int64(3)}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
	hp, err := eventhubs.DescribeHub(ctx, testConf(srv, "hub"))
	if err != nil {
		t.Fatal(err)
	}
	var ranges []eventhubs.OffsetRange
	for _, b := range hp.Partitions {
		ranges = append(ranges, eventhubs.OffsetRange{Name: "hub", PartitionID: b.PartitionID, FromSeqNo: b.First, UntilSeqNo: b.End})
	}
	rdd, err := eventhubs.CreateRDD(ctx, testConf(srv, "hub"), ranges)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Collect: %d events, %v", len(evs), err)
	}
	ev := evs[0]
	if string(ev.Body) != `{"t":21.5}` || ev.PartitionKey != key || ev.ContentType != ct || ev.MessageID != id ||
		ev.Properties["unit"] != "C" || ev.Properties["n"] != int64(3) || ev.SequenceNumber != 0 ||
		ev.EnqueuedTime.Before(before) || ev.EnqueuedTime.Location() != time.UTC {
		t.Errorf("event = %+v", ev)
	}
}
