package offsets_test

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// StoredPositions reads the positions of the partitions asked for, and
// leaves out a partition without one.
func TestStoredPositions(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if err := commit(t, db, store, rng("0", 0, 10), rng("1", 0, 7), rng("2", 0, 3)); err != nil {
			t.Fatal(err)
		}
		got, err := store.StoredPositions(job)(ctx(t), []string{"0", "2", "5"})
		if want := map[string]int64{"0": 10, "2": 3}; err != nil || !maps.Equal(got, want) {
			t.Errorf("StoredPositions = %v, %v; want %v", got, err, want)
		}
	})
}

// ListPositions selects by job name and consumer group (its case
// ignored), and orders by job, then by partition number.
func TestListPositions(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		other := job
		other.Name, other.ConsumerGroup = "audit", "Monitor"
		for _, c := range []struct {
			j      offsets.Job
			ranges []eventhubs.OffsetRange
		}{{job, []eventhubs.OffsetRange{rng("10", 0, 4), rng("2", 0, 3)}}, {other, []eventhubs.OffsetRange{rng("0", 0, 1)}}} {
			if err := commitAs(ctx(t), db, store, c.j, c.ranges...); err != nil {
				t.Fatal(err)
			}
		}
		list := func(f *offsets.PositionFilter) (got []string) {
			ps, err := store.ListPositions(ctx(t), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				got = append(got, fmt.Sprintf("%s/%s=%d", p.Job.Name, p.Partition, p.Next))
			}
			return got
		}
		for _, c := range []struct {
			filter *offsets.PositionFilter
			want   []string
		}{
			{nil, []string{"audit/0=1", "totals/2=3", "totals/10=4"}},
			{&offsets.PositionFilter{Job: "totals"}, []string{"totals/2=3", "totals/10=4"}},
			{&offsets.PositionFilter{ConsumerGroup: "MONITOR"}, []string{"audit/0=1"}},
			{&offsets.PositionFilter{Job: "totals", ConsumerGroup: "monitor"}, nil},
		} {
			if got := list(c.filter); !slices.Equal(got, c.want) {
				t.Errorf("ListPositions(%+v) = %q, want %q", c.filter, got, c.want)
			}
		}
	})
}
