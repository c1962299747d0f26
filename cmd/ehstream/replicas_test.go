package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/sqlsink"
)

// Replicas of `ehstream stream` share an 8-partition hub through the
// ownership records in PostgreSQL while a producer writes 100,000 events:
// they balance, a killed replica's partitions move after the expiration, a
// joining one gets partitions, a stopped one hands them over at once, and
// a paused one rejoins without writing a duplicate. The table ends with
// every event exactly once.
func TestStreamReplicas(t *testing.T) {
	const partitions, perPartition = 8, 12_500
	const interval, expiration = 500 * time.Millisecond, 2 * time.Second
	pg := freshPostgres(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "shared", PartitionCount: partitions})
	connStr := srv.ConnectionString("shared")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs, _ := eventhubs.ParseConnectionString(connStr)

	// The store, opened once the first replica made its tables.
	var store azeventhubs.CheckpointStore
	// owners is each partition's live owner, per the store's records.
	owners := func() map[string]string { return liveOwners(t, ctx, store, cs.Namespace(), "shared", expiration) }
	counts := func(own map[string]string) map[string]int {
		n := map[string]int{}
		for _, o := range own {
			n[o]++
		}
		return n
	}
	replicas := map[string]*streamProcess{}
	dump := func() {
		for id, p := range replicas {
			out := p.output()
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				if !strings.HasPrefix(l, "batch ") {
					lines = append(lines, l)
				}
			}
			fmt.Fprintf(os.Stderr, "--- %s:\n%s\n", id, strings.Join(lines, "\n"))
		}
	}
	// within polls cond until it holds, and fails when that took longer
	// than limit; it returns how long it took.
	within := func(what string, limit time.Duration, cond func(map[string]string) bool) time.Duration {
		t.Helper()
		begin := time.Now()
		for {
			own := owners()
			if cond(own) {
				took := time.Since(begin)
				if took > limit {
					t.Errorf("%s took %s, want at most %s", what, took.Round(time.Millisecond), limit)
				}
				t.Logf("%s: %s (%v)", what, took.Round(time.Millisecond), counts(own))
				return took
			}
			if time.Since(begin) > limit+20*time.Second {
				dump()
				t.Fatalf("%s: not after %s; owners %v", what, time.Since(begin).Round(time.Millisecond), own)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	launch := func(id string) {
		replicas[id] = startStreamProcess(t, bin, "--connection-string", connStr, "--sink", pg, "--table", "events", "--job", "replicas",
			"--batch-interval", "50ms", "--max-rate-per-partition", "500", "--ownership", pg, "--owner-id", id,
			"--ownership-interval", interval.String(), "--ownership-expiration", expiration.String())
	}
	// started waits for a launched replica to be about to run its first
	// round.
	started := func(id string) {
		replicas[id].waitFor(t, "sharing the partitions")
		if store == nil {
			var closer io.Closer
			store, closer, err = ownership.Open(ctx, pg, "replicas", &ownership.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closer.Close() })
		}
	}
	allOwned := func(own map[string]string, live ...string) bool {
		if len(own) != partitions {
			return false
		}
		for _, o := range own {
			if !slices.Contains(live, o) {
				return false
			}
		}
		return true
	}
	// The processes' start (a second or so on a loaded machine) is not the
	// protocol's; each limit allows one interval of slack for it and the
	// rounds' jitter.
	slack := interval

	start := func(id string) { launch(id); started(id) }

	produced := sendRounds(ctx, connStr, partitions, perPartition, 125)
	// Three replicas starting together own every partition in their first
	// round, each its share: they meet in the join window (package
	// balance), half an interval.
	launched := time.Now()
	for _, id := range []string{"r1", "r2", "r3"} {
		launch(id)
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		started(id)
	}
	within("all partitions owned by 3 replicas starting together", 2*interval, func(own map[string]string) bool { return allOwned(own, "r1", "r2", "r3") })
	t.Logf("(%s from launching the processes)", time.Since(launched).Round(time.Millisecond))
	within("balance of 3 replicas", 3*interval+slack, func(own map[string]string) bool {
		n := counts(own)
		return allOwned(own, "r1", "r2", "r3") && n["r1"] >= 2 && n["r2"] >= 2 && n["r3"] >= 2 && n["r1"] <= 3 && n["r2"] <= 3 && n["r3"] <= 3
	})

	replicas["r2"].cmd.Process.Kill()
	<-replicas["r2"].exited
	within("takeover after kill -9", expiration+2*interval+slack, func(own map[string]string) bool { return allOwned(own, "r1", "r3") })

	start("r4")
	within("a fourth replica's first partition", 3*interval+slack, func(own map[string]string) bool { return counts(own)["r4"] >= 1 })

	replicas["r3"].cmd.Process.Signal(syscall.SIGTERM)
	if err := <-replicas["r3"].exited; err != nil {
		t.Fatalf("r3 after SIGTERM: %v\n%s", err, replicas["r3"].output())
	}
	// A relinquished partition is claimed at the other replicas' next
	// round; a loaded CI machine (2 cores, every package's tests at once)
	// once took 1.48s for the usual 0.42-0.51s: two intervals of slack.
	within("takeover after SIGTERM", interval+2*slack, func(own map[string]string) bool { return allOwned(own, "r1", "r4") })

	r1 := replicas["r1"].cmd.Process
	r1.Signal(syscall.SIGSTOP)
	within("takeover from a paused replica", expiration+2*interval+slack, func(own map[string]string) bool { return allOwned(own, "r4") })
	r1.Signal(syscall.SIGCONT)
	within("the paused replica rejoining", 3*interval+slack+expiration, func(own map[string]string) bool { return counts(own)["r1"] >= 1 })

	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	sk := sinkDB(t, pg, "events")
	job, err := offsets.JobFor("replicas", eventhubs.NewConf(connStr))
	if err != nil {
		t.Fatal(err)
	}
	waitPositionsAtEnd(t, ctx, sk, job, partitions, perPartition)
	for _, id := range []string{"r1", "r4"} {
		replicas[id].cmd.Process.Signal(syscall.SIGTERM)
		if err := <-replicas[id].exited; err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", id, err, replicas[id].output())
		}
	}
	checkArchive(t, sk, "events", job, partitions, perPartition)
	if t.Failed() {
		dump()
	}
}

// Two replicas on one machine share a 4-partition hub through a SQLite
// store (the sink's database): both get partitions, one stops and the
// other takes them over, and the table ends with every event once.
func TestStreamReplicasSQLite(t *testing.T) {
	const partitions, perPartition = 4, 5_000
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "pair", PartitionCount: partitions})
	connStr := srv.ConnectionString("pair")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := "sqlite:" + t.TempDir() + "/pair.db"
	produced := sendRounds(ctx, connStr, partitions, perPartition, 100)
	replicas := map[string]*streamProcess{}
	for _, id := range []string{"a", "b"} {
		replicas[id] = startStreamProcess(t, bin, "--connection-string", connStr, "--sink", spec, "--table", "events", "--job", "pair",
			"--batch-interval", "50ms", "--max-rate-per-partition", "200", "--ownership", spec, "--owner-id", id,
			"--ownership-interval", "300ms", "--ownership-expiration", "1500ms", "--http", "127.0.0.1:0")
	}
	// Both get partitions.
	for _, p := range replicas {
		p.waitFor(t, "partition gained")
	}
	replicas["a"].cmd.Process.Signal(syscall.SIGTERM)
	if err := <-replicas["a"].exited; err != nil {
		t.Fatalf("a after SIGTERM: %v\n%s", err, replicas["a"].output())
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	sk := sinkDB(t, spec, "events")
	job, err := offsets.JobFor("pair", eventhubs.NewConf(connStr))
	if err != nil {
		t.Fatal(err)
	}
	waitPositionsAtEnd(t, ctx, sk, job, partitions, perPartition)
	// b's status page names it the owner of every partition, and why it
	// gained those that were a's.
	m := statusLine.FindStringSubmatch(replicas["b"].output())
	if m == nil {
		t.Fatalf("b printed no status URL:\n%s", replicas["b"].output())
	}
	var parts []monitor.Partition
	poll(t, 30*time.Second, "b's page to show it reads every partition", func() bool {
		_, body := httpGet(t, m[1]+"api/partitions")
		parts = nil
		if err := json.Unmarshal([]byte(body), &parts); err != nil {
			t.Fatalf("/api/partitions: %v: %s", err, body)
		}
		reading := 0
		for _, p := range parts {
			if p.Reading && p.Owner == "b" && p.Next == perPartition {
				reading++
			}
		}
		return reading == partitions
	})
	gained := 0
	for _, p := range parts {
		if strings.HasPrefix(p.Note, "gained: ") {
			gained++
		}
	}
	if gained == 0 {
		t.Errorf("b's partitions say nothing of how it gained them: %+v", parts)
	}
	if owned, _ := byPartition(metricFamilies(t, m[1]), "ehstream_partition_next_sequence_number"); len(owned) != partitions {
		t.Errorf("b's metrics have the positions of %d partitions, want %d", len(owned), partitions)
	}
	replicas["b"].cmd.Process.Signal(syscall.SIGTERM)
	if err := <-replicas["b"].exited; err != nil {
		t.Fatalf("b after SIGTERM: %v\n%s", err, replicas["b"].output())
	}
	checkArchive(t, sk, "events", job, partitions, perPartition)
}

// waitPositionsAtEnd polls the job's stored positions until every one of
// the partitions is at perPartition, the hub's end.
func waitPositionsAtEnd(t *testing.T, ctx context.Context, sk *sqlsink.Sink, job offsets.Job, partitions int, perPartition int64) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ps, err := sk.Store.Positions(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		done := len(ps) == partitions
		for _, p := range ps {
			done = done && p.Next == perPartition
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas did not reach the partitions' ends: %+v", ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// liveOwners is each partition's live owner in the store's records of the
// hub's default consumer group: a claim renewed within expiration.
func liveOwners(tb testing.TB, ctx context.Context, store azeventhubs.CheckpointStore, namespace, hub string, expiration time.Duration) map[string]string {
	tb.Helper()
	list, err := store.ListOwnership(ctx, namespace, hub, azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range list {
		if o.OwnerID != "" && time.Since(o.LastModifiedTime) <= expiration {
			out[o.PartitionID] = o.OwnerID
		}
	}
	return out
}
