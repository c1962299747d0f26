package eventhubs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// passLastEnqueued returns a time after every event enqueued so far and
// before every later one. Enqueued times are kept to the millisecond, so
// it is a millisecond after the last, once the clock has passed that.
func passLastEnqueued(t *testing.T, conf *eventhubs.Conf) time.Time {
	t.Helper()
	hp, err := eventhubs.DescribeHub(testCtx(t, 10*time.Second), conf)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, b := range hp.Partitions {
		if b.LastEnqueued.After(last) {
			last = b.LastEnqueued
		}
	}
	waitFor(t, 5*time.Second, "the clock to pass the last enqueued time", func() bool {
		return time.Now().After(last.Add(2 * time.Millisecond))
	})
	return last.Add(time.Millisecond)
}

// A time window is one call: OffsetRangesBetween(FromEnqueuedTime(t), ...)
// gives the ranges of exactly the events enqueued after t (and before the
// window's end), whether a partition has events on both sides of t, only
// before, or only after.
func TestOffsetRangesBetweenTimeWindow(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "win", PartitionCount: 3})
	ctx := testCtx(t, 60*time.Second)
	conf := testConf(srv, "win")
	// Before the window: partitions 0 and 1.
	fill(t, ctx, srv, "win", "0", 0, 10)
	fill(t, ctx, srv, "win", "1", 0, 4)
	since := passLastEnqueued(t, conf)
	// In the window: partitions 0 and 2.
	fill(t, ctx, srv, "win", "0", 10, 5)
	fill(t, ctx, srv, "win", "2", 0, 7)
	until := passLastEnqueued(t, conf)
	// After the window's end: every partition.
	for p, first := range []int{15, 4, 7} {
		fill(t, ctx, srv, "win", fmt.Sprint(p), first, 3)
	}

	read := func(from, until eventhubs.EventPosition) []string {
		t.Helper()
		ranges, err := eventhubs.OffsetRangesBetween(ctx, conf, from, until)
		if err != nil {
			t.Fatalf("OffsetRangesBetween(%s, %s): %v", from, until, err)
		}
		rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := rdd.Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, ev := range evs {
			if !ev.EnqueuedTime.After(from.EnqueuedTime()) {
				t.Errorf("event %s was enqueued at %s, not after %s", ev.Body, ev.EnqueuedTime, from.EnqueuedTime())
			}
			bodies = append(bodies, string(ev.Body))
		}
		return bodies
	}
	bodies := func(p string, first, n int) []string {
		var out []string
		for i := range n {
			out = append(out, body(p, first+i))
		}
		return out
	}

	window := slices.Concat(bodies("0", 10, 5), bodies("2", 0, 7))
	if got := read(eventhubs.FromEnqueuedTime(since), eventhubs.FromEnqueuedTime(until)); !slices.Equal(got, window) {
		t.Errorf("the window [since, until): %v\nwant %v", got, window)
	}
	sinceThen := slices.Concat(bodies("0", 10, 8), bodies("1", 4, 3), bodies("2", 0, 10))
	if got := read(eventhubs.FromEnqueuedTime(since), eventhubs.EndOfStream()); !slices.Equal(got, sinceThen) {
		t.Errorf("since the time until the end: %v\nwant %v", got, sinceThen)
	}
}

// ResolvePositions resolves every kind of position to the first event at
// or after it, within about one receive timeout; a refused offset, an
// unknown partition and a partition another reader holds exclusively are
// errors naming them, and that reader keeps its partition.
func TestResolvePositions(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "res", PartitionCount: 4})
	ctx := testCtx(t, 60*time.Second)
	conf := testConf(srv, "res").SetReceiverTimeout(2 * time.Second)
	fill(t, ctx, srv, "res", "0", 0, 10)
	fill(t, ctx, srv, "res", "1", 0, 2)
	fill(t, ctx, srv, "res", "2", 0, 2)
	since := passLastEnqueued(t, conf)
	fill(t, ctx, srv, "res", "3", 0, 6)
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "res", PartitionID: "0", FromSeqNo: 7, UntilSeqNo: 9}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Partitions 1 and 2 hold fewer bytes than event 8's offset in
	// partition 0, so nothing follows that offset there.
	nothingAfter := eventhubs.FromOffset(evs[1].Offset, false)

	began := time.Now()
	got, err := eventhubs.ResolvePositions(ctx, conf, map[string]eventhubs.EventPosition{
		"0": eventhubs.FromOffset(evs[0].Offset, false),
		"1": nothingAfter,
		"2": nothingAfter,
		"3": eventhubs.FromEnqueuedTime(since),
	})
	took := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"0": 8, "1": 2, "2": 2, "3": 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ResolvePositions = %v, want %v", got, want)
	}
	if took > 3500*time.Millisecond {
		t.Errorf("resolving took %s, want about one receive timeout (2s)", took)
	}
	got, err = eventhubs.ResolvePositions(ctx, conf, map[string]eventhubs.EventPosition{
		"0": eventhubs.StartOfStream(), "1": eventhubs.EndOfStream(), "2": eventhubs.FromSequenceNumber(1, false),
		"3": eventhubs.FromEnqueuedTime(time.Now().Add(time.Hour)),
	})
	if want := map[string]int64{"0": 0, "1": 2, "2": 2, "3": 6}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ResolvePositions = %v, %v; want %v", got, err, want)
	}

	for _, c := range []struct {
		positions map[string]eventhubs.EventPosition
		code      eventhubs.ErrorCode
		says      string
	}{
		{map[string]eventhubs.EventPosition{"0": eventhubs.FromOffset("abc", true)}, eventhubs.CodeInvalidConf, "offset:abc"},
		{map[string]eventhubs.EventPosition{"9": eventhubs.StartOfStream()}, eventhubs.CodeInvalidRange, "no such partition"},
		{map[string]eventhubs.EventPosition{"0": eventhubs.FromSequenceNumber(-3, true)}, eventhubs.CodeInvalidConf, "seq:-3"},
	} {
		_, err := eventhubs.ResolvePositions(ctx, conf, c.positions)
		if errCode(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ResolvePositions(%v) = %v; want %s saying %q", c.positions, err, c.code, c.says)
		}
	}

	holder := newReader(t, ctx, srv, "res", "3", true)
	_, err = eventhubs.ResolvePositions(ctx, conf, map[string]eventhubs.EventPosition{"3": eventhubs.FromEnqueuedTime(since)})
	if errCode(err) != eventhubs.CodeOwnershipLost || !strings.Contains(err.Error(), "time:") || !strings.Contains(err.Error(), "another consumer group") {
		t.Errorf("ResolvePositions while another reader holds the partition: %v; want %s naming the position and saying to use another consumer group", err, eventhubs.CodeOwnershipLost)
	}
	if err := holder.receive(ctx); err != nil {
		t.Errorf("the exclusive reader lost its partition to ResolvePositions: %v", err)
	}
}

// Positions that cannot make a range are errors naming them.
func TestOffsetRangesBetweenErrors(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "bad", PartitionCount: 2})
	ctx := testCtx(t, 30*time.Second)
	conf := testConf(srv, "bad")
	fill(t, ctx, srv, "bad", "0", 0, 5)
	for _, c := range []struct {
		from, until eventhubs.EventPosition
		code        eventhubs.ErrorCode
		says        []string
	}{
		{eventhubs.StartOfStream(), eventhubs.FromSequenceNumber(6, true), eventhubs.CodeRangeOutOfBounds,
			[]string{"until position seq:6", "partition 0", "sequence numbers 0 to 4"}},
		{eventhubs.FromSequenceNumber(5, false), eventhubs.EndOfStream(), eventhubs.CodeRangeOutOfBounds,
			[]string{"from position seq:>5", "past the partition's last event"}},
		{eventhubs.FromSequenceNumber(4, true), eventhubs.FromSequenceNumber(2, true), eventhubs.CodeInvalidRange,
			[]string{"from position seq:4 comes after until position seq:2"}},
		{eventhubs.EndOfStream(), eventhubs.FromSequenceNumber(0, true), eventhubs.CodeInvalidRange,
			[]string{"partition 0", "from position latest is sequence number 5, after until position seq:0"}},
		{eventhubs.FromEnqueuedTime(time.Time{}), eventhubs.EndOfStream(), eventhubs.CodeInvalidConf, []string{"from position"}},
	} {
		ranges, err := eventhubs.OffsetRangesBetween(ctx, conf, c.from, c.until)
		if errCode(err) != c.code {
			t.Errorf("OffsetRangesBetween(%s, %s) = %v, %v; want %s", c.from, c.until, ranges, err, c.code)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("OffsetRangesBetween(%s, %s): %v does not say %q", c.from, c.until, err, s)
			}
		}
	}
	ranges, err := eventhubs.OffsetRangesBetween(ctx, conf, eventhubs.FromSequenceNumber(2, true), eventhubs.EndOfStream())
	if err == nil {
		err = fmt.Errorf("%v", ranges)
	}
	// Partition 1 is empty: a sequence number of partition 0 is past its end.
	if errCode(err) != eventhubs.CodeRangeOutOfBounds || !strings.Contains(err.Error(), "partition 1") || !strings.Contains(err.Error(), "holds no events") {
		t.Errorf("from seq:2 on a hub with an empty partition: %v; want %s naming partition 1", err, eventhubs.CodeRangeOutOfBounds)
	}
}

// An offset at or past a partition's last event resolves at once, by
// comparing it with the partition's last offset, with the default
// ReceiverTimeout (a minute) that a receive waiting for an event after it
// would take: the last event (inclusive) or the end (exclusive) when
// equal, the end when greater, however many digits it has. OffsetRanges-
// Between resolves its positions the same way. An offset that is not a
// decimal number ("-1", the service's start of the stream) is still asked
// of the service.
func TestResolveOffsetsPastTheLastAtOnce(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "past", PartitionCount: 3})
	ctx := testCtx(t, 30*time.Second)
	fill(t, ctx, srv, "past", "0", 0, 10)
	fill(t, ctx, srv, "past", "1", 0, 2)
	conf := eventhubs.NewConf(srv.ConnectionString("past"))
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	last0, last1 := hp.Partitions[0].LastOffset, hp.Partitions[1].LastOffset
	// Partition 0's last offset lies past partition 1's last event (it
	// holds more bytes) and past empty partition 2's end.
	for _, c := range []struct {
		p    string
		pos  eventhubs.EventPosition
		want int64
	}{
		{"0", eventhubs.FromOffset(last0, true), 9},
		{"0", eventhubs.FromOffset(last0, false), 10},
		{"0", eventhubs.FromOffset("0"+last0, false), 10},
		{"0", eventhubs.FromOffset("123456789012345678901234567890", true), 10},
		{"1", eventhubs.FromOffset(last0, true), 2},
		{"1", eventhubs.FromOffset(last1, true), 1},
		{"2", eventhubs.FromOffset(last0, false), 0},
		{"1", eventhubs.FromOffset("-1", false), 0},
	} {
		began := time.Now()
		got, err := eventhubs.ResolvePositions(ctx, conf, map[string]eventhubs.EventPosition{c.p: c.pos})
		took := time.Since(began)
		if err != nil || got[c.p] != c.want {
			t.Errorf("partition %s, %s: %v, %v; want %d", c.p, c.pos, got, err, c.want)
		}
		if took > 2*time.Second {
			t.Errorf("partition %s, %s: resolving took %s, want well under a second, not a receive timeout", c.p, c.pos, took.Round(time.Millisecond))
		}
	}
	began := time.Now()
	ranges, err := eventhubs.OffsetRangesBetween(ctx, conf, eventhubs.FromOffset(last0, false), eventhubs.EndOfStream())
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("OffsetRangesBetween from offset:>%s took %s, want well under a second", last0, took.Round(time.Millisecond))
	}
	want := []eventhubs.OffsetRange{{Name: "past", PartitionID: "0", FromSeqNo: 10, UntilSeqNo: 10},
		{Name: "past", PartitionID: "1", FromSeqNo: 2, UntilSeqNo: 2}, {Name: "past", PartitionID: "2"}}
	if !slices.Equal(ranges, want) {
		t.Errorf("OffsetRangesBetween from offset:>%s = %v, want %s", last0, ranges, want)
	}
}

// PartitionRangesBetween resolves only the partitions asked for, in their
// order: a position past another partition's end is no error of theirs.
func TestPartitionRangesBetween(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "some", PartitionCount: 3})
	ctx := testCtx(t, 30*time.Second)
	fill(t, ctx, srv, "some", "0", 0, 6)
	fill(t, ctx, srv, "some", "2", 0, 8)
	conf := testConf(srv, "some")
	got, err := eventhubs.PartitionRangesBetween(ctx, conf, []string{"2", "0"}, eventhubs.FromSequenceNumber(4, true), eventhubs.EndOfStream())
	want := []eventhubs.OffsetRange{{Name: "some", PartitionID: "2", FromSeqNo: 4, UntilSeqNo: 8}, {Name: "some", PartitionID: "0", FromSeqNo: 4, UntilSeqNo: 6}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("PartitionRangesBetween(2, 0; seq:4, latest) = %v, %v; want %v", got, err, want)
	}
	if _, err := eventhubs.OffsetRangesBetween(ctx, conf, eventhubs.FromSequenceNumber(4, true), eventhubs.EndOfStream()); errCode(err) != eventhubs.CodeRangeOutOfBounds {
		t.Errorf("OffsetRangesBetween(seq:4, latest) over every partition, partition 1 empty: %v, want %s", err, eventhubs.CodeRangeOutOfBounds)
	}
	_, err = eventhubs.PartitionRangesBetween(ctx, conf, []string{"7"}, eventhubs.StartOfStream(), eventhubs.EndOfStream())
	if errCode(err) != eventhubs.CodeInvalidRange || !strings.Contains(err.Error(), "no such partition") {
		t.Errorf("PartitionRangesBetween(7) = %v, want a %s error saying no such partition", err, eventhubs.CodeInvalidRange)
	}
}
