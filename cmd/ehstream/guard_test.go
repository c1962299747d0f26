package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
)

// filledHub starts a local hub with perPartition events in each partition
// and returns its connection string.
func filledHub(t *testing.T, hub emulator.HubConfig, perPartition int) string {
	t.Helper()
	cs := startInProcess(t, hub).ConnectionString(hub.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, int(hub.PartitionCount), perPartition, perPartition); err != nil {
		t.Fatal(err)
	}
	return cs
}

// The flags of replicas mean nothing without an ownership store: given
// alone they are a usage error naming them, not ignored; --take-over
// means nothing with one.
func TestOwnershipFlagsNeedOwnership(t *testing.T) {
	t.Setenv("EHSTREAM_OWNERSHIP", "")
	for _, c := range []struct {
		args []string
		says []string
	}{
		{[]string{"--ownership-strategy", "random"}, []string{"--ownership-strategy without --ownership"}},
		{[]string{"--owner-id", "r1", "--ownership-interval", "5s", "--ownership-expiration", "1m"},
			[]string{"--owner-id, --ownership-expiration, --ownership-interval without --ownership"}},
		{[]string{"--ownership", "sqlite:" + filepath.Join(t.TempDir(), "o.db"), "--take-over"}, []string{"--take-over with --ownership"}},
	} {
		// Were the flags taken, the job would run on the local Event Hubs
		// until idle: in the test's directory.
		dir := t.TempDir()
		code, out, errOut := cli(t, "", append([]string{"stream", "--http", "", "--until-idle", "--sink", "sqlite:" + filepath.Join(dir, "x.db"),
			"--data", filepath.Join(dir, "data")}, c.args...)...)
		if code != 2 || out != "" {
			t.Errorf("stream %v: exit %d, stdout %q, stderr %q; want exit 2", c.args, code, out, errOut)
		}
		for _, s := range c.says {
			if !strings.Contains(errOut, s) {
				t.Errorf("stream %v: stderr %q; want it to say %q", c.args, errOut, s)
			}
		}
	}
}

// A stream without --ownership on a consumer group whose ownership
// records, in the sink's database, show live owners refuses to start,
// naming them, and stores nothing; with --take-over it starts. Claims
// relinquished or of another consumer group do not stop it.
func TestStreamRefusesLiveReplicas(t *testing.T) {
	cs := filledHub(t, emulator.HubConfig{Name: "shared", PartitionCount: 2, ConsumerGroups: []string{"audit"}}, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := "sqlite:" + filepath.Join(t.TempDir(), "archive.db")
	store, closer, err := ownership.Open(ctx, spec, "archive", nil) // as a replica with --ownership on the sink's database
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	parsed, _ := eventhubs.ParseConnectionString(cs)
	claim := func(group, owner string, partitions ...string) {
		t.Helper()
		claimPartitions(t, ctx, store, azeventhubs.Ownership{FullyQualifiedNamespace: parsed.Namespace(), EventHubName: "shared", ConsumerGroup: group, OwnerID: owner}, partitions...)
	}
	claim("audit", "auditor", "0", "1")
	claim("$Default", "replica-b", "1")
	claim("$Default", "replica-a", "0")
	stream := func(extra ...string) (int, string, string) {
		return cli(t, "", append([]string{"stream", "--http", "", "--connection-string", cs, "--sink", spec, "--until-idle", "--batch-interval", "20ms"}, extra...)...)
	}

	code, out, errOut := stream()
	for _, s := range []string{"replica-a (job archive) owns partition 0", "replica-b (job archive) owns partition 1", "consumer group $Default", "--ownership", "--take-over"} {
		if code != 1 || !strings.Contains(errOut, s) {
			t.Errorf("stream beside live replicas: exit %d, stderr %q; want exit 1 saying %q", code, errOut, s)
		}
	}
	if strings.Contains(out, "wrote") {
		t.Errorf("a refused stream printed a summary: %q", out)
	}
	t.Logf("refused: %s", errOut)
	sk := sinkDB(t, spec, "")
	if ps, err := sk.Store.Positions(ctx, offsets.Job{Name: "archive", Namespace: "127.0.0.1", EventHub: "shared", ConsumerGroup: "$default"}); err != nil || len(ps) != 0 {
		t.Errorf("a refused stream stored positions %v (%v)", ps, err)
	}

	claim("$Default", "", "0", "1") // relinquished: a clean stop
	if code, out, errOut := stream(); code != 0 || !strings.Contains(out, "wrote 10 events") {
		t.Fatalf("stream after the replicas stopped: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	claim("$Default", "replica-a", "0", "1")
	if code, out, errOut := stream("--take-over", "--job", "other", "--table", "other"); code != 0 || !strings.Contains(out, "wrote 10 events") {
		t.Errorf("stream --take-over: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// claimPartitions claims partitions for as's owner, over any claim there.
func claimPartitions(t *testing.T, ctx context.Context, store azeventhubs.CheckpointStore, as azeventhubs.Ownership, partitions ...string) {
	t.Helper()
	list, err := store.ListOwnership(ctx, as.FullyQualifiedNamespace, as.EventHubName, as.ConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	var claims []azeventhubs.Ownership
	for _, p := range partitions {
		o := as
		o.PartitionID = p
		for _, r := range list {
			if r.PartitionID == p {
				o.ETag = r.ETag
			}
		}
		claims = append(claims, o)
	}
	if got, err := store.ClaimOwnership(ctx, claims, nil); err != nil || len(got) != len(claims) {
		t.Fatalf("claiming %v for %q: %v, %v", partitions, as.OwnerID, got, err)
	}
}
