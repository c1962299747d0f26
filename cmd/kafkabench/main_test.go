package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A small run measures every phase: both consumers read exactly what both
// producers wrote (a consumer that read too few or too many fails the
// run), and the report names each rate and the ratios.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := run(ctx, config{events: 2000, partitions: 4, size: 1024, runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range phases {
		if len(res[ph]) != 2 || res[ph][0] <= 0 || res[ph][1] <= 0 {
			t.Fatalf("%s: rates %v, want 2 positive", ph, res[ph])
		}
	}
	var out strings.Builder
	res.report(&out)
	for _, want := range []string{"kgo produce:", "SDK consume:", "produce kgo/SDK: ", "consume kgo/SDK: "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report %q lacks %q", out.String(), want)
		}
	}
}
