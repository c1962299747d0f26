package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupMember is one kgo member of a Kafka consumer group reading hub
// "orders". Rebalances wait between polls (BlockRebalanceOnPoll) and each
// poll's records are committed before the next, so that a partition moves
// to another member only at a committed offset: across the members, every
// record is read, and committed, once.
type groupMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	assigned map[int32]bool
	read     map[int32][]int64 // offsets read and committed, per partition
	errs     []error
}

// joinGroup starts a member of group on srv's hub "orders".
func joinGroup(t *testing.T, srv *emulator.Server, group string) *groupMember {
	t.Helper()
	m, err := newGroupMember(srv.KafkaAddr(), group)
	if err != nil {
		t.Fatalf("kgo group member: %v", err)
	}
	t.Cleanup(m.leave)
	return m
}

func newGroupMember(addr, group string) (*groupMember, error) {
	m := &groupMember{done: make(chan struct{}), assigned: map[int32]bool{}, read: map[int32][]int64{}}
	track := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range ps["orders"] {
				m.assigned[p] = add
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"),
		kgo.BlockRebalanceOnPoll(), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.OnPartitionsAssigned(track(true)), kgo.OnPartitionsRevoked(track(false)), kgo.OnPartitionsLost(track(false)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cl, m.cancel = cl, cancel
	go m.poll(ctx)
	return m, nil
}

func (m *groupMember) poll(ctx context.Context) {
	defer close(m.done)
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := m.cl.PollFetches(pctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				m.fail(fmt.Errorf("fetch %s/%d: %w", topic, p, err))
			}
		})
		if recs := fs.Records(); len(recs) > 0 {
			if err := m.cl.CommitRecords(ctx, recs...); err != nil {
				m.fail(fmt.Errorf("commit: %w", err))
			} else {
				m.mu.Lock()
				for _, r := range recs {
					m.read[r.Partition] = append(m.read[r.Partition], r.Offset)
				}
				m.mu.Unlock()
			}
		}
		m.cl.AllowRebalance()
	}
}

func (m *groupMember) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, err)
}

// leave stops polling and closes the client, which leaves the group.
func (m *groupMember) leave() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.cl.Close()
	})
}

// partitions are the member's assigned partitions, sorted.
func (m *groupMember) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p, ok := range m.assigned {
		if ok {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// readOnce checks that across members every offset below ends[p] was read
// exactly once and nothing else was; it reports what is still missing, and
// fails at once on a duplicate or a member's error.
func readOnce(t *testing.T, ends map[int32]int64, members ...*groupMember) (missing int) {
	t.Helper()
	seen := map[int32]map[int64]bool{}
	for _, m := range members {
		m.mu.Lock()
		if len(m.errs) > 0 {
			t.Fatalf("member: %v", m.errs)
		}
		for p, offs := range m.read {
			if seen[p] == nil {
				seen[p] = map[int64]bool{}
			}
			for _, o := range offs {
				if seen[p][o] || o >= ends[p] {
					t.Fatalf("partition %d offset %d read twice or past the end %d", p, o, ends[p])
				}
				seen[p][o] = true
			}
		}
		m.mu.Unlock()
	}
	for p, end := range ends {
		missing += int(end) - len(seen[p])
	}
	return missing
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// produceOrders produces n keyed records to hub "orders" and returns the
// partitions' end offsets.
func produceOrders(t *testing.T, ctx context.Context, srv *emulator.Server, from, n int) map[int32]int64 {
	t.Helper()
	cl := kafkaClient(t, srv, kgo.DefaultProduceTopic("orders"))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "orders"
	for p := range int32(4) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	ends := map[int32]int64{}
	for _, p := range resp.Topics[0].Partitions {
		ends[p.Partition] = p.Offset
	}
	return ends
}

// TestKafkaGroupSharesRebalancesResumes: two kgo members share a
// 4-partition hub two partitions each; when one leaves the other gets all
// four and reads what is produced after; a new member of the group resumes
// from the committed offsets. Every record is read once across them.
func TestKafkaGroupSharesRebalancesResumes(t *testing.T) {
	srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}})
	ctx := testCtx(t, 90*time.Second)
	ends := produceOrders(t, ctx, srv, 0, 400)
	a, b := joinGroup(t, srv, "billing"), joinGroup(t, srv, "billing")
	waitFor(t, 30*time.Second, "two members sharing the partitions read all 400 records", func() bool {
		return len(a.partitions()) == 2 && len(b.partitions()) == 2 && readOnce(t, ends, a, b) == 0
	})
	if got := slices.Concat(a.partitions(), b.partitions()); len(slices.Compact(slices.Sorted(slices.Values(got)))) != 4 {
		t.Fatalf("members hold partitions %v and %v, want 0-3 between them", a.partitions(), b.partitions())
	}
	b.leave()
	waitFor(t, 30*time.Second, "the remaining member holds all 4 partitions", func() bool { return len(a.partitions()) == 4 })
	ends = produceOrders(t, ctx, srv, 400, 400)
	waitFor(t, 30*time.Second, "the remaining member read the 400 records produced after", func() bool { return readOnce(t, ends, a, b) == 0 })
	a.leave()
	ends = produceOrders(t, ctx, srv, 800, 200)
	c := joinGroup(t, srv, "billing")
	waitFor(t, 30*time.Second, "a new member resumed from the committed offsets", func() bool { return readOnce(t, ends, a, b, c) == 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, offs := range c.read {
		n += len(offs)
	}
	if n != 200 {
		t.Fatalf("the new member read %d records, want the 200 produced after the last commit", n)
	}
}
