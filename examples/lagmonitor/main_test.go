package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

var behind = regexp.MustCompile(`(?m)^partition (\d+): (\d+) events behind, oldest unread enqueued (\S+) \((\S+) ago\)$`)

func runExample(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// The default run: a local job that read 2 batches of 100 of each
// partition's 500 events is 300 events behind in each, the oldest unread
// enqueued a moment ago.
func TestLagMonitorExample(t *testing.T) {
	out := runExample(t)
	lines := behind.FindAllStringSubmatch(out, -1)
	if len(lines) != 4 {
		t.Fatalf("%d partitions behind, want 4:\n%s", len(lines), out)
	}
	for _, m := range lines {
		enqueued, err := time.Parse(time.RFC3339Nano, m[3])
		if m[2] != "300" || err != nil || time.Since(enqueued) > time.Minute || time.Since(enqueued) < 0 {
			t.Errorf("partition %s: %s events behind, oldest unread enqueued %s; want 300, enqueued in the last minute", m[1], m[2], m[3])
		}
	}
}

// Against a hub and a store: the job's lag per partition, and exactly the
// enqueued time of the first event it has not committed.
func TestLagMonitorExampleStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 2, ConsumerGroups: []string{"monitor"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer eventhubs.CloseAll(context.Background())
	cs := srv.ConnectionString("orders")
	if err := send(ctx, cs, 2, 10); err != nil {
		t.Fatal(err)
	}
	conf := eventhubs.NewConf(cs)
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "orders", PartitionID: "0", FromSeqNo: 6, UntilSeqNo: 7}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "offsets.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	job, err := offsets.JobFor("orders-job", conf)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CommitOffsets(ctx, tx, job, []eventhubs.OffsetRange{
		{Name: "orders", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 6},
		{Name: "orders", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 10},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	out := runExample(t, "-connection-string", cs, "-db", "sqlite:"+path, "-job", "orders-job", "-consumer-group", "monitor")
	lines := behind.FindAllStringSubmatch(out, -1)
	if len(lines) != 1 || lines[0][1] != "0" || lines[0][2] != "4" || lines[0][3] != evs[0].EnqueuedTime.Format(time.RFC3339Nano) {
		t.Errorf("want partition 0 4 events behind, the oldest enqueued %s:\n%s", evs[0].EnqueuedTime.Format(time.RFC3339Nano), out)
	}
	if !strings.Contains(out, "partition 1: caught up\n") {
		t.Errorf("want partition 1 caught up:\n%s", out)
	}
}

func TestLagMonitorExampleBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"-every", "-1s"}, "-every -1s"},
		{[]string{"-db", "sqlite:x.db"}, "-db without a connection string"},
		{[]string{"-connection-string", "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=h", "-db", "mysql://x"}, `"mysql://x"`},
	} {
		err := run(context.Background(), c.args, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("run %v = %v, want an error saying %q", c.args, err, c.says)
		}
	}
}
