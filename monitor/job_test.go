package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// A view of the whole job puts every partition of the hub on the page and
// in /metrics, whichever replica reads it: its owner, or since when it has
// none; a partition without a live owner for longer than the expiration
// is orphaned; a partition this replica no longer reads keeps its gauges.
func TestWholeJobView(t *testing.T) {
	ssc := newContext(t, time.Millisecond, nil)
	in := newFake(10, 100)
	ssc.AddInput(in)
	m := New(ssc, &Options{Namespace: "ns", Hub: "h", Owner: "r1"})
	if err := runStream(t, ssc, func(b streaming.BatchInfo) bool { return b.Number == 2 }); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.now = func() time.Time { return now }
	jp := func(id, owner string, live bool, renewed time.Duration, next, end int64) eventhubs.JobPartition {
		p := eventhubs.JobPartition{PartitionID: id, Owner: owner, Live: live, Next: next, HasNext: true, End: end, OldestUnread: now.Add(-7 * time.Second)}
		if renewed > 0 {
			p.Changed = now.Add(-renewed)
		}
		return p
	}
	view := eventhubs.JobView{At: now, Hub: "h", OwnerID: "r1", UpdateInterval: 10 * time.Second, Expiration: time.Minute,
		Renewals: 5, FailedRenewals: 1, Owners: true, Partitions: []eventhubs.JobPartition{
			jp("0", "r1", true, time.Second, 20, 100), jp("1", "r1", true, time.Second, 20, 100),
			jp("2", "r2", true, 3*time.Second, 50, 60), jp("3", "r2", false, 16*time.Second, 40, 70),
			jp("4", "", false, 2*time.Minute, 30, 30), jp("5", "", false, 0, 0, 5)}}
	m.JobObserved(view)

	js := m.Status().WholeJob
	if js == nil || js.Unowned != 3 || strings.Join(js.Orphaned, ",") != "4" || js.Renewals != 5 || js.FailedRenewals != 1 || js.ExpirationSeconds != 60 {
		t.Errorf("whole job %+v; want 3 partitions unowned, 4 orphaned (2 minutes without an owner), 5 and 1 rounds", js)
	}
	ps := m.Partitions()
	if len(ps) != 6 {
		t.Fatalf("%d partitions, want every one of the hub's 6", len(ps))
	}
	if p := ps[3]; p.Owner != "r2" || p.Live || p.NoOwnerSince == nil || !p.NoOwnerSince.Equal(now.Add(-16*time.Second)) || p.Lag != 30 || p.LagSeconds == nil || *p.LagSeconds != 7 {
		t.Errorf("partition 3: %+v; want r2 its last owner, no live owner since its last renewal 16 s ago, lag 30 and 7 s", p)
	}
	if p := ps[5]; p.Live || p.NoOwnerSince == nil || !p.NoOwnerSince.Equal(now) {
		t.Errorf("partition 5, never claimed: %+v; want no live owner since the view", p)
	}
	if p := ps[0]; !p.Live || p.Owner != "r1" || !p.Reading || p.Next != 20 {
		t.Errorf("partition 0: %+v; want read here, by r1, at 20 (the later word: the view)", p)
	}
	checkWholeJobMetrics(t, m)

	// Partition 1 goes to another replica: its series stay, with the
	// view's word, and the next view names its owner.
	m.OnBatchCompleted(streaming.BatchInfo{Number: 3, Time: now, Ranges: []streaming.Range{{Source: "h", Partition: "0", From: 20, Until: 30}}, Lag: []int64{70}})
	view.At = now.Add(time.Second)
	view.Partitions[1] = jp("1", "r2", true, time.Second, 25, 100)
	view.Err = errors.New("listing the ownership records: down")
	view.Owners = false
	m.JobObserved(view)
	ps = m.Partitions()
	if p := ps[1]; p.Reading || p.Owner != "r1" || p.Next != 25 {
		t.Errorf("partition 1 after r2 took it, while the records cannot be read: %+v; want not read here, the last owner known, and the view's position", p)
	}
	if got, ok := value(scrape(t, m), "ehstream_partition_lag_events", "partition", "1"); !ok || got != 75 {
		t.Errorf("partition 1's lag = %v (found %v), want 75: a partition another replica reads keeps its series", got, ok)
	}
	if js := m.Status().WholeJob; js.Error == "" || js.Unowned != 3 {
		t.Errorf("whole job %+v; want the view's error, and the owners as last read", js)
	}
}

// checkWholeJobMetrics checks TestWholeJobView's metrics after its first
// view.
func checkWholeJobMetrics(t *testing.T, m *Monitor) {
	t.Helper()
	fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ehstream_partitions_unowned", []string{"namespace", "ns", "hub", "h"}, 3},
		{"ehstream_partition_owned", []string{"partition", "2", "owner", "r2"}, 1},
		{"ehstream_partition_owned", []string{"partition", "3", "owner", "r2"}, 0},
		{"ehstream_partition_owned", []string{"partition", "4", "owner", ""}, 0},
		{"ehstream_partition_lag_events", []string{"namespace", "ns", "partition", "3"}, 30},
		{"ehstream_partition_lag_seconds", []string{"partition", "3"}, 7},
		{"ehstream_partition_lag_seconds", []string{"partition", "4"}, 0},
		{"ehstream_ownership_renewals_total", []string{"result", "ok"}, 5},
		{"ehstream_ownership_renewals_total", []string{"result", "error"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}

}

// The batch records say how long each output ran, and the status sums up
// the processing times and delays of the batches kept.
func TestBatchOutputsAndSummaries(t *testing.T) {
	m := New(newContext(t, time.Second, nil), nil)
	now := time.Now()
	for i := range 20 {
		m.OnBatchCompleted(streaming.BatchInfo{Number: int64(i + 1), Time: now.Add(time.Duration(i) * time.Second),
			ProcessingTime: time.Duration(i+1) * time.Millisecond, SchedulingDelay: time.Duration(2*(i+1)) * time.Millisecond,
			Outputs: []streaming.OutputTime{{Output: 0, Took: time.Millisecond}, {Output: 0, Typed: true, Took: 2 * time.Millisecond}}})
	}
	b := m.Batches()[19]
	if len(b.Outputs) != 2 || b.Outputs[0].Name != "output 1" || b.Outputs[1].Name != "ForeachBatch 1" || b.Outputs[1].Seconds != 0.002 {
		t.Errorf("outputs %+v; want output 1 and ForeachBatch 1, 2 ms", b.Outputs)
	}
	st := m.Status()
	if p := st.ProcessingTime; p.Batches != 20 || p.MeanSeconds < 0.01049 || p.MeanSeconds > 0.01051 || p.P95Seconds != 0.019 {
		t.Errorf("processing time %+v; want 20 batches, mean 10.5 ms, p95 19 ms", p)
	}
	if d := st.SchedulingDelay; d.P95Seconds != 0.038 {
		t.Errorf("scheduling delay %+v; want p95 38 ms", d)
	}
}
