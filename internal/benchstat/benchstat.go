// Package benchstat holds what the project's benchmark commands
// (cmd/peerbench, cmd/kafkabench, cmd/streambench) report with: the median
// of runs, the runs as a list, and the process's CPU time.
package benchstat

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Median is the median of xs; 0 when there are none.
func Median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Runs is xs rounded to whole numbers, separated by commas: each run's
// figure beside their median.
func Runs(xs []float64) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(out, ", ")
}

// CPUTime is the CPU time, user and system, this process has taken.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
