package offsets_test

import (
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
}
