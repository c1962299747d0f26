package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

var partitionLine = regexp.MustCompile(`(?m)^partition (\d+): (\d+) events`)

// counts runs the example and returns the count it printed per partition
// and its total.
func counts(t *testing.T, args ...string) (map[string]int, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run %v: %v\n%s", args, err, out.String())
	}
	got := map[string]int{}
	for _, m := range partitionLine.FindAllStringSubmatch(out.String(), -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	m := regexp.MustCompile(`(?m)^total: (\d+) events$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("run %v printed no total:\n%s", args, out.String())
	}
	total, _ := strconv.Atoi(m[1])
	return got, total
}

// The default run: a local Event Hubs whose 1,000 sample events were all
// enqueued in the last 10 minutes.
func TestWindowCountExample(t *testing.T) {
	got, total := counts(t)
	if len(got) != 4 || total != 1000 {
		t.Fatalf("partitions %v, total %d; want 4 partitions and 1000 events", got, total)
	}
	for p, n := range got {
		if n != 250 {
			t.Errorf("partition %s: %d events, want 250", p, n)
		}
	}
}

// A window of a hub: exactly the events enqueued in it, per partition.
func TestWindowCountExampleWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "w", PartitionCount: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer eventhubs.CloseAll(context.Background())
	cs := srv.ConnectionString("w")
	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	send := func(n ...int) {
		t.Helper()
		for part, k := range n {
			if k == 0 {
				continue
			}
			id := fmt.Sprint(part)
			batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
			if err != nil {
				t.Fatal(err)
			}
			for range k {
				if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte("x")}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// moment is a time after every event sent so far and before every later
	// one. Enqueued times are kept to the millisecond, so it is a
	// millisecond after the last, once the clock has passed that.
	moment := func() time.Time {
		t.Helper()
		hp, err := eventhubs.DescribeHub(ctx, eventhubs.NewConf(cs))
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for _, b := range hp.Partitions {
			if b.LastEnqueued.After(last) {
				last = b.LastEnqueued
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for !time.Now().After(last.Add(2 * time.Millisecond)) {
			if time.Now().After(deadline) {
				t.Fatalf("the clock did not pass %s", last)
			}
			time.Sleep(time.Millisecond)
		}
		return last.Add(time.Millisecond)
	}

	send(5, 2, 0)
	start := moment()
	send(3, 0, 4)
	end := moment()
	send(1, 1, 1)

	got, total := counts(t, "-connection-string", cs, "-end", end.UTC().Format(time.RFC3339Nano), "-window", end.Sub(start).String())
	if want := map[string]int{"0": 3, "1": 0, "2": 4}; fmt.Sprint(got) != fmt.Sprint(want) || total != 7 {
		t.Errorf("the window: %v, total %d; want %v, total 7", got, total, want)
	}
	got, total = counts(t, "-connection-string", cs, "-window", time.Since(start).String())
	if want := map[string]int{"0": 4, "1": 1, "2": 5}; fmt.Sprint(got) != fmt.Sprint(want) || total != 10 {
		t.Errorf("since the window's start until now: %v, total %d; want %v, total 10", got, total, want)
	}
}

func TestWindowCountExampleBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-end", "yesterday"}, {"-window", "-5m"}} {
		err := run(context.Background(), args, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), args[1]) {
			t.Errorf("run %v = %v, want an error naming %q", args, err, args[1])
		}
	}
}
