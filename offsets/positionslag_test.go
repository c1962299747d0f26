package offsets_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// PositionsLag reads the lag of each job of the conf's hub among the
// positions listed, in their order, whatever the case of its names or its
// output; a job with a position of a partition the hub lacks has none, and
// positions of another hub are left out.
func TestPositionsLag(t *testing.T) {
	conf, _ := startHub(t, 8, 3)
	a, err := offsets.JobFor("a", conf)
	if err != nil {
		t.Fatal(err)
	}
	a.Output = "events"
	b, c, elsewhere := a, a, a
	b.Name, b.ConsumerGroup, b.Output = "b", "monitor", ""
	c.Name = "c"
	elsewhere.Name, elsewhere.EventHub = "elsewhere", "payments"
	ps := []offsets.Position{
		{Job: b, Partition: "1", Next: 1},
		{Job: a, Partition: "0", Next: 5}, {Job: a, Partition: "1", Next: 3},
		{Job: elsewhere, Partition: "0", Next: 1},
		{Job: c, Partition: "7", Next: 0},
	}
	lags, err := offsets.PositionsLag(ctx(t), conf, ps, "monitor")
	if err != nil {
		t.Fatal(err)
	}
	if len(lags) != 3 || lags[0].Job.Name != "b" || lags[1].Job.Name != "a" || lags[1].Job.Output != "" || lags[2].Job.Name != "c" {
		t.Fatalf("PositionsLag = %+v, want jobs b, a (without its output) and c", lags)
	}
	events := func(jl offsets.JobLag) (n []int64) {
		for _, l := range jl.Partitions {
			n = append(n, l.Events)
		}
		return n
	}
	if got := events(lags[0]); len(got) != 2 || got[0] != 8 || got[1] != 2 || lags[0].Err != nil {
		t.Errorf("job b: events behind %v (%v), want [8 2]", got, lags[0].Err)
	}
	if got := events(lags[1]); len(got) != 2 || got[0] != 3 || got[1] != 0 || lags[1].Err != nil {
		t.Errorf("job a: events behind %v (%v), want [3 0]", got, lags[1].Err)
	}
	if !eventhubs.HasCode(lags[2].Err, eventhubs.CodeInvalidRange) || lags[2].Partitions != nil {
		t.Errorf("job c, of a partition the hub lacks: %+v, want no lag and CodeInvalidRange", lags[2])
	}
	// Indexed, each listed position finds its partition's lag, whatever its
	// output; c's and elsewhere's have none.
	idx := offsets.IndexLags(lags)
	if idx.Len() != 4 {
		t.Errorf("IndexLags: %d partitions, want 4 (b's and a's)", idx.Len())
	}
	for i, want := range []int64{2, 3, 0, -1, -1} {
		l, ok := idx.Of(ps[i])
		if ok != (want >= 0) || (ok && l.Events != want) {
			t.Errorf("lag of %s/%s = %d, %v; want %d", ps[i].Job.Name, ps[i].Partition, l.Events, ok, want)
		}
	}
	var none *offsets.Lags
	if _, ok := none.Of(ps[0]); ok || none.Len() != 0 {
		t.Error("a nil Lags has a lag")
	}
}

// Unknown names the partitions whose oldest unread event was not read.
func TestJobLagUnknown(t *testing.T) {
	why := errors.New("held by the job")
	jl := offsets.JobLag{Partitions: []eventhubs.PartitionLag{{PartitionID: "0"}, {PartitionID: "1", Err: why}, {PartitionID: "3", Err: why}}}
	if ids, err := jl.Unknown(); !slices.Equal(ids, []string{"1", "3"}) || err != why {
		t.Errorf("Unknown = %q, %v; want [1 3], %v", ids, err, why)
	}
	if ids, err := (offsets.JobLag{Partitions: jl.Partitions[:1]}).Unknown(); ids != nil || err != nil {
		t.Errorf("Unknown of a job read fully = %q, %v; want none", ids, err)
	}
}
