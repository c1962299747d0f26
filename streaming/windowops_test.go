package streaming

import (
	"slices"
	"testing"
	"time"
)

func windowOps(t testing.TB, ssc *Context, src DStream[item], p params, rec *recorder) {
	t.Helper()
	iv := ssc.BatchInterval()
	length, slide := time.Duration(p.length)*iv, time.Duration(p.slide)*iv
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	values := Map(src, func(kv item) int { return kv.Value })
	rw, err := ReduceByWindow(values, sum[int], nil, length, slide)
	must(err)
	record(rec, "reduceByWindow", rw)
	rwi, err := ReduceByWindow(values, sum[int], func(a, b int) int { return a - b }, length, slide)
	must(err)
	record(rec, "reduceByWindow.inverse", rwi.Named("sums"))
	cv, err := CountByValueAndWindow(Map(src, func(kv item) string { return kv.Key }), length, slide)
	must(err)
	record(rec, "countByValueAndWindow", cv)
	gw, err := GroupByKeyAndWindow(src, length, slide)
	must(err)
	record(rec, "groupByKeyAndWindow", gw)
	positive := &WindowOptions[string, int]{Filter: func(kv item) bool { return kv.Value > 0 }}
	fw, err := ReduceByKeyAndWindowWith(src, sum[int], func(a, b int) int { return a - b }, length, slide, positive)
	must(err)
	record(rec, "reduceByKeyAndWindow.filter", fw.Named("positive"))
}

// windowOracle computes the windows that end at batch n from every batch
// so far (all, one slice of items per batch).
func windowOracle(want wanted, n int64, all [][]item, p params) {
	if n%p.slide != 0 {
		return
	}
	win := slices.Concat(all[max(n-p.length, 0):n]...)
	var rw, cv, gw, fw []string
	total, counts, groups, sums := 0, map[string]int64{}, map[string][]int{}, map[string]int{}
	for _, kv := range win {
		total += kv.Value
		counts[kv.Key]++
		groups[kv.Key] = append(groups[kv.Key], kv.Value)
		sums[kv.Key] += kv.Value
	}
	if len(win) > 0 {
		rw = []string{fmtJSON(total)}
	}
	for k, c := range counts {
		cv = append(cv, fmtJSON(KV[string, int64]{k, c}))
		gw = append(gw, fmtJSON(KV[string, []int]{k, groups[k]}))
		if sums[k] > 0 {
			fw = append(fw, fmtJSON(item{k, sums[k]}))
		}
	}
	want.put("reduceByWindow", n, rw)
	want.put("reduceByWindow.inverse", n, slices.Clone(rw))
	want.put("countByValueAndWindow", n, cv)
	want.put("groupByKeyAndWindow", n, gw)
	want.put("reduceByKeyAndWindow.filter", n, fw)
}
