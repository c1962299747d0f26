package eventhubs

import (
	"reflect"
	"testing"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// The rate controller hears only of batches its stream ran, and splits
// the estimated rate over the partitions by lag, within their caps.
func TestRateControllerLimits(t *testing.T) {
	rc, err := newRateController(200*time.Millisecond, streaming.DefaultPID())
	if err != nil {
		t.Fatal(err)
	}
	ids, caps := []string{"0", "1", "2", "3"}, []int64{1000, 1000, 1000, 1000}
	if l, rate := rc.limits(ids, []int64{10, 10, 10, 10}, caps); l != nil || rate != 0 {
		t.Errorf("limits before an estimate = %v, %d; want nil, 0", l, rate)
	}
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	batch := func(n int64, due time.Time, events int64, took time.Duration) {
		rc.ran(n, events)
		rc.OnBatchCompleted(streaming.BatchInfo{Number: n, Time: due, ProcessingTime: took, Events: events})
	}
	// 1,000 events/s, then again with no delay: the estimate is 1,000/s,
	// 200 events per 200 ms batch.
	batch(1, t0, 500, 500*time.Millisecond)
	rc.OnBatchCompleted(streaming.BatchInfo{Number: 2, Time: t0.Add(time.Second), ProcessingTime: time.Millisecond}) // not run by the stream: ignored
	batch(3, t0.Add(time.Second), 200, 200*time.Millisecond)
	for _, tc := range []struct {
		name string
		lag  []int64
		caps []int64
		want []int64
	}{
		{"by lag", []int64{300, 100, 0, 100}, caps, []int64{120, 40, 1000, 40}},
		{"capped", []int64{300, 100, 0, 100}, []int64{50, 1000, 1000, 1000}, []int64{50, 40, 1000, 40}},
		{"at least one event while there is lag", []int64{100000, 1, 1, 0}, caps, []int64{200, 1, 1, 1000}},
		{"nothing to read", []int64{0, 0, 0, 0}, caps, caps},
	} {
		got, rate := rc.limits(ids, tc.lag, tc.caps)
		if !reflect.DeepEqual(got, tc.want) || rate != 1000 {
			t.Errorf("%s: limits(lag %v, caps %v) = %v, %d/s; want %v, 1000/s", tc.name, tc.lag, tc.caps, got, rate, tc.want)
		}
	}
}
