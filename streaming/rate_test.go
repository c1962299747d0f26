package streaming

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The estimator's rates against values computed by hand from Spark's
// formulas (PIDRateEstimator.compute), batch by batch.
func TestPIDRateEstimatorByHand(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ms := time.Millisecond
	type batch struct {
		end        time.Time
		events     int64
		processing time.Duration
		delay      time.Duration
		want       float64 // -1: no estimate
	}
	cases := []struct {
		name    string
		pid     PID
		batches []batch
	}{
		{"Spark's defaults", DefaultPID(), []batch{
			// First: latestRate = 1000/0.5 = 2000, latestError = 0, no estimate.
			{at(1000 * ms), 1000, 500 * ms, 0, -1},
			// processingRate 400/0.4 = 1000; error 2000-1000 = 1000;
			// historical 0.3*1000/0.2 = 1500; 2000 - 1000 - 0.2*1500 = 700.
			{at(1200 * ms), 400, 400 * ms, 300 * ms, 700},
			// processingRate 140/0.1 = 1400; error 700-1400 = -700;
			// historical 0.1*1400/0.2 = 700; 700 + 700 - 0.2*700 = 1260.
			{at(1400 * ms), 140, 100 * ms, 100 * ms, 1260},
			// processingRate 200/0.4 = 500; error 1260-500 = 760;
			// historical 1.0*500/0.2 = 2500; 1260 - 760 - 500 = 0: the
			// minimum, 100.
			{at(1600 * ms), 200, 400 * ms, 1000 * ms, 100},
			// No events, no processing time, not after the last: no
			// estimate, and nothing changes.
			{at(1800 * ms), 0, 100 * ms, 0, -1},
			{at(1800 * ms), 10, 0, 0, -1},
			{at(1600 * ms), 10, 100 * ms, 0, -1},
			// processingRate 20/0.02 = 1000; error 100-1000 = -900;
			// historical 0; 100 + 900 = 1000.
			{at(2000 * ms), 20, 20 * ms, 0, 1000},
		}},
		{"with a derivative", PID{Proportional: 1, Integral: 0.2, Derivative: 0.5, MinRate: 100}, []batch{
			{at(1000 * ms), 1000, 500 * ms, 0, -1},
			// As above; dError = (1000 - 0)/0.2 = 5000: 700 - 2500 = -1800,
			// the minimum.
			{at(1200 * ms), 400, 400 * ms, 300 * ms, 100},
			// processingRate 1400; error 100-1400 = -1300; historical 700;
			// dError (-1300 - 1000)/0.2 = -11500;
			// 100 + 1300 - 140 + 5750 = 7010.
			{at(1400 * ms), 140, 100 * ms, 100 * ms, 7010},
		}},
		{"proportional only, a higher minimum", PID{Proportional: 0.5, MinRate: 300}, []batch{
			{at(1000 * ms), 100, 100 * ms, 0, -1}, // latestRate 1000
			// processingRate 500; error 500; 1000 - 250 = 750.
			{at(1200 * ms), 100, 200 * ms, 5 * time.Second, 750},
			// processingRate 250; error 500; 750 - 250 = 500.
			{at(1400 * ms), 50, 200 * ms, 0, 500},
			// processingRate 50; error 450; 500 - 225 = 275: the minimum, 300.
			{at(1600 * ms), 10, 200 * ms, 0, 300},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewPIDRateEstimator(200*ms, tc.pid)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := e.Rate(); ok {
				t.Error("Rate before any estimate says it has one")
			}
			last := -1.0
			for i, b := range tc.batches {
				got, ok := e.Compute(b.end, b.events, b.processing, b.delay)
				switch {
				case b.want < 0 && ok:
					t.Errorf("batch %d: rate %g, want no estimate", i+1, got)
				case b.want >= 0 && !ok:
					t.Errorf("batch %d: no estimate, want %g", i+1, b.want)
				case b.want >= 0 && math.Abs(got-b.want) > 1e-9:
					t.Errorf("batch %d: rate %.12g, want %g", i+1, got, b.want)
				}
				if ok {
					last = got
				}
				if r, ok := e.Rate(); last >= 0 && (!ok || r != last) {
					t.Errorf("batch %d: Rate() = %g, %v; want %g, true", i+1, r, ok, last)
				}
			}
		})
	}
}

func TestPIDRateEstimatorRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		pid      PID
		want     string
	}{
		{0, DefaultPID(), "batch interval 0s"},
		{time.Second, PID{Proportional: -1, MinRate: 1}, "proportional -1"},
		{time.Second, PID{Integral: -0.5, MinRate: 1}, "integral -0.5"},
		{time.Second, PID{Derivative: -2, MinRate: 1}, "derivative -2"},
		{time.Second, PID{Proportional: 1}, "minimum rate 0 events/s"},
		{time.Second, PID{Proportional: 1, MinRate: math.NaN()}, "minimum rate NaN"},
	} {
		if _, err := NewPIDRateEstimator(tc.interval, tc.pid); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewPIDRateEstimator(%s, %+v) = %v, want an error naming %q", tc.interval, tc.pid, err, tc.want)
		}
	}
}
