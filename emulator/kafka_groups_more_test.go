package emulator_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committedOffsets are group's committed offsets on hub "orders", by
// OffsetFetch (-1 where none).
func committedOffsets(t *testing.T, ctx context.Context, srv *emulator.Server, group string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "orders", []int32{0, 1, 2, 3}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, kafkaClient(t, srv))
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	out := map[int32]int64{}
	for _, p := range resp.Topics[0].Partitions {
		out[p.Partition] = p.Offset
	}
	return out
}

// TestKafkaGroupOffsetsSurviveRestart: offsets committed by a group are
// there after the emulator restarts on the same DataDir.
func TestKafkaGroupOffsetsSurviveRestart(t *testing.T) {
	cfg := &emulator.Config{KafkaListen: "127.0.0.1:0", DataDir: t.TempDir(), Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}}
	ctx := testCtx(t, 60*time.Second)
	first, err := emulator.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	ends := produceOrders(t, ctx, first, 0, 100)
	m := joinGroup(t, first, "billing")
	waitFor(t, 30*time.Second, "the member read and committed all 100 records", func() bool { return readOnce(t, ends, m) == 0 })
	m.leave()
	if err := first.Close(); err != nil {
		t.Fatalf("close emulator: %v", err)
	}
	second := start(t, cfg)
	got := committedOffsets(t, ctx, second, "billing")
	for p, end := range ends {
		if got[p] != end {
			t.Fatalf("after the restart partition %d's committed offset is %d, want %d (all: %v, ends %v)", p, got[p], end, got, ends)
		}
	}
	groups, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, kafkaClient(t, second))
	if err != nil || len(groups.Groups) != 1 || groups.Groups[0].Group != "billing" || groups.Groups[0].GroupState != "Empty" {
		t.Fatalf("ListGroups after the restart: %+v, %v; want billing, Empty", groups, err)
	}
}

// TestKafkaGroupsApartFromEventHubsGroups: a Kafka group named like a
// hub's Event Hubs consumer group shares nothing with it: an exclusive
// (epoch) AMQP reader of that consumer group keeps reading while the Kafka
// group consumes and commits, and the Kafka group lists only Kafka members.
func TestKafkaGroupsApartFromEventHubsGroups(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0",
		Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4, ConsumerGroups: []string{"analytics"}}}})
	ctx := testCtx(t, 60*time.Second)
	pc, err := consumer(t, srv, "orders", "analytics").NewPartitionClient("0", &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{Earliest: new(true)}, OwnerLevel: new(int64(5))})
	if err != nil {
		t.Fatalf("AMQP partition client: %v", err)
	}
	defer pc.Close(ctx)
	ends := produceOrders(t, ctx, srv, 0, 200)
	m := joinGroup(t, srv, "analytics")
	waitFor(t, 30*time.Second, "the Kafka group analytics read all 200 records", func() bool { return readOnce(t, ends, m) == 0 })
	if evs := receive(t, ctx, pc, int(ends[0])); len(evs) != int(ends[0]) {
		t.Fatalf("the AMQP reader of consumer group analytics read %d events, want %d", len(evs), ends[0])
	}
	if g := describeGroup(t, ctx, srv, "analytics"); len(g.Members) != 1 || g.ProtocolType != "consumer" || g.State != "Stable" {
		t.Fatalf("DescribeGroups analytics: %+v; want the one Kafka member, Stable", g)
	}
}

// kafkaMemberEnv makes the test binary a bare Kafka group member of the
// given emulator (TestMain): a process a test can kill without it leaving
// the group.
const kafkaMemberEnv = "EHSTREAM_TEST_KAFKA_MEMBER"

// runKafkaMember is the child process: a member of group "billing" until
// it is killed (or two minutes pass).
func runKafkaMember(addr string) int {
	m, err := newGroupMember(addr, "billing")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(2 * time.Minute) // waiting to be killed, not synchronising
	m.leave()
	return 0
}

// TestKafkaGroupSessionExpiry: a member whose process dies (kill -9: no
// LeaveGroup) stays in the group until its session times out; then the
// other member gets all partitions and reads on from the dead one's
// commits: exactly the records produced after them.
func TestKafkaGroupSessionExpiry(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}})
	ctx := testCtx(t, 90*time.Second)
	before := produceOrders(t, ctx, srv, 0, 200)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), kafkaMemberEnv+"="+srv.KafkaAddr())
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatalf("start the member process: %v", err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	waitFor(t, 30*time.Second, "the member process read and committed all 200 records", func() bool {
		return maps.Equal(committedOffsets(t, ctx, srv, "billing"), before)
	})
	a := joinGroup(t, srv, "billing")
	waitFor(t, 30*time.Second, "the second member holds 2 partitions", func() bool {
		return len(a.partitions()) == 2 && describeGroup(t, ctx, srv, "billing").State == "Stable"
	})
	child.Process.Kill()
	child.Wait()
	if n := len(describeGroup(t, ctx, srv, "billing").Members); n != 2 {
		t.Fatalf("right after the kill the group has %d members, want 2 until the session times out", n)
	}
	waitFor(t, 30*time.Second, "the remaining member holds all 4 partitions", func() bool { return len(a.partitions()) == 4 })
	after := produceOrders(t, ctx, srv, 200, 200)
	waitFor(t, 30*time.Second, "the remaining member read the 200 records produced after the commits", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		n := 0
		for p, offs := range a.read {
			for _, o := range offs {
				if o < before[p] {
					t.Fatalf("partition %d: the remaining member read offset %d, below the committed %d", p, o, before[p])
				}
			}
			n += len(offs)
		}
		return n == 200
	})
	if missing := readOnce(t, after, a); missing != int(sumOf(before)) {
		t.Fatalf("the remaining member misses %d records, want just the %d the dead one committed", missing, sumOf(before))
	}
}

func sumOf(m map[int32]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func describeGroup(t *testing.T, ctx context.Context, srv *emulator.Server, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, kafkaClient(t, srv))
	if err != nil || len(resp.Groups) != 1 {
		t.Fatalf("DescribeGroups %s: %+v, %v", group, resp, err)
	}
	return resp.Groups[0]
}

// TestKafkaFindCoordinatorAndBatchedOffsetFetch: the batched forms —
// FindCoordinator v4 names this broker for every group key and refuses
// transactional ids (the emulator has no transactions); OffsetFetch v8
// answers several groups at once.
func TestKafkaFindCoordinatorAndBatchedOffsetFetch(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}})
	ctx := testCtx(t, 30*time.Second)
	cl := kafkaClient(t, srv)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.Version, find.CoordinatorKeys = 4, []string{"billing", ""}
	resp, err := find.RequestWith(ctx, cl)
	if err != nil || len(resp.Coordinators) != 2 {
		t.Fatalf("FindCoordinator v4: %+v, %v", resp, err)
	}
	// kgo may split the keys into requests of their own: match by key.
	slices.SortFunc(resp.Coordinators, func(a, b kmsg.FindCoordinatorResponseCoordinator) int { return strings.Compare(b.Key, a.Key) })
	if c := resp.Coordinators[0]; c.Key != "billing" || c.ErrorCode != 0 || c.NodeID != 0 || net.JoinHostPort(c.Host, fmt.Sprint(c.Port)) != srv.KafkaAddr() {
		t.Fatalf("FindCoordinator billing: %+v, want this broker %s", c, srv.KafkaAddr())
	}
	if c := resp.Coordinators[1]; c.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("FindCoordinator of an empty key: code %d, want INVALID_REQUEST", c.ErrorCode)
	}
	find.CoordinatorType, find.CoordinatorKeys = 1, []string{"txn-1"}
	if resp, err := find.RequestWith(ctx, cl); err != nil || resp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator of a transactional id: %+v, %v; want COORDINATOR_NOT_AVAILABLE", resp, err)
	}
	ends := produceOrders(t, ctx, srv, 0, 50)
	m := joinGroup(t, srv, "billing")
	waitFor(t, 30*time.Second, "billing read and committed all", func() bool { return readOnce(t, ends, m) == 0 })
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	for _, g := range []string{"billing", "nobody"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		fetch.Groups = append(fetch.Groups, rg) // no topics: all the group committed
	}
	fr, err := fetch.RequestWith(ctx, cl)
	if err != nil || len(fr.Groups) != 2 || len(fr.Groups[0].Topics) != 1 || len(fr.Groups[1].Topics) != 0 {
		t.Fatalf("OffsetFetch v8: %+v, %v; want billing's one topic and nothing for nobody", fr, err)
	}
	withRecords := 0
	for _, end := range ends {
		if end > 0 {
			withRecords++
		}
	}
	if got := len(fr.Groups[0].Topics[0].Partitions); got != withRecords {
		t.Fatalf("OffsetFetch v8 billing: %d partitions, want the %d with records", got, withRecords)
	}
	for _, p := range fr.Groups[0].Topics[0].Partitions {
		if p.Offset != ends[p.Partition] {
			t.Fatalf("OffsetFetch v8 billing partition %d: %d, want %d", p.Partition, p.Offset, ends[p.Partition])
		}
	}
}
