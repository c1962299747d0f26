package benchstat_test

import (
	"testing"

	"github.com/ehstream/ehstream/internal/benchstat"
)

func TestMedianAndRuns(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := benchstat.Median(c.xs); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
	if got := benchstat.Runs([]float64{1.4, 2000.6}); got != "1, 2001" {
		t.Errorf("Runs = %q", got)
	}
	if benchstat.CPUTime() <= 0 {
		t.Error("CPUTime is not positive")
	}
}
