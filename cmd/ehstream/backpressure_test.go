package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/offsets"
)

// `ehstream stream --backpressure` archives a backlog exactly once, as
// without it.
func TestStreamBackpressure(t *testing.T) {
	const partitions, perPartition = 4, 3000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "bp", Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	cs := hub.ConnectionString()
	if err := localhub.Fill(ctx, cs, partitions, perPartition, &localhub.FillOptions{Properties: true}); err != nil {
		t.Fatal(err)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "bp.db")
	var out, errOut strings.Builder
	code := run(ctx, []string{"stream", "--connection-string", cs, "--sink", spec, "--table", "events", "--job", "bp",
		"--until-idle", "--batch-interval", "100ms", "--max-rate-per-partition", "500", "--backpressure"},
		stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	if want := fmt.Sprintf("wrote %d events", partitions*perPartition); code != 0 || !strings.Contains(out.String(), want) {
		t.Fatalf("exit %d, want 0 and %q:\n%s%s", code, want, out.String(), errOut.String())
	}
	sk := sinkDB(t, spec, "events")
	job := offsets.Job{Name: "bp", Namespace: "127.0.0.1", EventHub: "bp", ConsumerGroup: "$default"}
	checkArchive(t, sk, "events", job, partitions, perPartition)
}
