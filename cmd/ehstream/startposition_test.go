package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// `ehstream stream --starting-position offset:N` with the default
// --receiver-timeout (a minute) on a hub where N lies past the last event
// of some partitions (one holds fewer bytes, one none): its first batch
// comes within 2 s, not after a receive that waits a minute for an event
// after N, and the table holds each partition's events from offset N on.
// `ehstream read --from offset:N` answers as soon.
func TestStreamStartsAtAnOffsetAtOnce(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "offs", PartitionCount: 4})
	cs := srv.ConnectionString("offs")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for p, n := range []int{20, 20, 3, 0} {
		if n > 0 {
			sendTo(t, ctx, srv.ConnectionString(""), "offs", strconv.Itoa(p), n)
		}
	}
	events := readAll(t, ctx, cs)
	n := events["0"][5].Offset
	want, total := map[string]int{}, 0
	for p, evs := range events {
		for _, ev := range evs {
			if offsetNumber(t, ev.Offset) >= offsetNumber(t, n) {
				want[p]++
				total++
			}
		}
	}
	if want["0"] != 15 || want["2"] != 0 {
		t.Fatalf("events from offset %s on: %v; want 15 in partition 0 and none in partition 2, past whose last event it lies", n, want)
	}

	t.Run("stream", func(t *testing.T) {
		bin, err := buildBinary()
		if err != nil {
			t.Fatal(err)
		}
		spec := "sqlite:" + filepath.Join(t.TempDir(), "offs.db")
		began := time.Now()
		p := startStreamProcess(t, bin, "--connection-string", cs, "--sink", spec, "--table", "events", "--job", "offs",
			"--starting-position", "offset:"+n, "--batch-interval", "100ms", "--until-idle", "--http", "")
		for deadline := began.Add(15 * time.Second); !wroteEvents.MatchString(p.output()); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no batch with events within 15 s of the start:\n%s", p.output())
			}
		}
		took := time.Since(began)
		if took > 2*time.Second {
			t.Errorf("the first batch came %s after the start, want under 2 s:\n%s", took.Round(time.Millisecond), p.output())
		}
		t.Logf("the first batch came %s after the start", took.Round(time.Millisecond))
		select {
		case err := <-p.exited:
			if err != nil {
				t.Fatalf("ehstream stream --until-idle: %v\n%s", err, p.output())
			}
		case <-ctx.Done():
			t.Fatalf("ehstream stream --until-idle did not stop:\n%s", p.output())
		}
		rows, distinct := tableCounts(t, sinkDB(t, spec, "events"), "events")
		for _, id := range []string{"0", "1", "2", "3"} {
			if rows[id] != want[id] || distinct[id] != want[id] {
				t.Errorf("partition %s: %d rows, %d distinct; want %d, the events from offset %s on", id, rows[id], distinct[id], want[id], n)
			}
		}
	})

	t.Run("read", func(t *testing.T) {
		began := time.Now()
		code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--from", "offset:"+n)
		took := time.Since(began)
		if code != 0 || len(readLinesJSON(t, out)) != total {
			t.Fatalf("read --from offset:%s: exit %d, %d events, want %d; stderr %q", n, code, len(readLinesJSON(t, out)), total, errOut)
		}
		if took > 2*time.Second {
			t.Errorf("read --from offset:%s took %s, want under 2 s", n, took.Round(time.Millisecond))
		}
	})
}

// readAll reads every event of the hub, by partition.
func readAll(t *testing.T, ctx context.Context, cs string) map[string][]*eventhubs.Event {
	t.Helper()
	conf := eventhubs.NewConf(cs)
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []eventhubs.OffsetRange
	for _, b := range hp.Partitions {
		ranges = append(ranges, eventhubs.OffsetRange{Name: hp.Name, PartitionID: b.PartitionID, FromSeqNo: b.First, UntilSeqNo: b.End})
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*eventhubs.Event{}
	for _, ev := range evs {
		out[ev.PartitionID] = append(out[ev.PartitionID], ev)
	}
	return out
}

// offsetNumber is an offset of the emulator's, which are decimal numbers.
func offsetNumber(t *testing.T, offset string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(offset, 10, 64)
	if err != nil {
		t.Fatalf("offset %q is not a decimal number: %v", offset, err)
	}
	return n
}
