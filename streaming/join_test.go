package streaming

import (
	"fmt"
	"slices"
	"testing"
)

// joinSides are the join test's two streams of one source: the even
// values, and the odd ones as text, so that keys fall in one or both.
func joinSides(src DStream[item]) (DStream[item], DStream[KV[string, string]]) {
	even := Filter(src, func(kv item) bool { return kv.Value%2 == 0 })
	odd := MapValues(Filter(src, func(kv item) bool { return kv.Value%2 != 0 }), func(v int) string { return fmt.Sprintf("odd%d", v) })
	return even, odd
}

func joinOps(t testing.TB, src DStream[item], rec *recorder) {
	t.Helper()
	a, b := joinSides(src)
	recordJoin(t, rec, "cogroup", func() (DStream[KV[string, Pair[[]int, []string]]], error) { return Cogroup(a, b) })
	recordJoin(t, rec, "join", func() (DStream[KV[string, Pair[int, string]]], error) { return Join(a, b) })
	recordJoin(t, rec, "leftOuterJoin", func() (DStream[KV[string, Pair[int, Optional[string]]]], error) { return LeftOuterJoin(a, b) })
	recordJoin(t, rec, "rightOuterJoin", func() (DStream[KV[string, Pair[Optional[int], string]]], error) { return RightOuterJoin(a, b) })
	recordJoin(t, rec, "fullOuterJoin", func() (DStream[KV[string, Pair[Optional[int], Optional[string]]]], error) {
		return FullOuterJoin(a, b)
	})
}

// recordJoin records the stream join makes under name.
func recordJoin[P any](t testing.TB, rec *recorder, name string, join func() (DStream[P], error)) {
	t.Helper()
	ds, err := join()
	if err != nil {
		t.Fatal(err)
	}
	record(rec, name, ds)
}

// joinOracle joins the batch's two sides by nested loops over its items.
func joinOracle(want wanted, n int64, parts [][]item) {
	lefts, rights := map[string][]int{}, map[string][]string{}
	var keys []string
	for _, kv := range slices.Concat(parts...) {
		if !slices.Contains(keys, kv.Key) {
			keys = append(keys, kv.Key)
		}
		if kv.Value%2 == 0 {
			lefts[kv.Key] = append(lefts[kv.Key], kv.Value)
		} else {
			rights[kv.Key] = append(rights[kv.Key], fmt.Sprintf("odd%d", kv.Value))
		}
	}
	var cg, j, l, r, f []string
	for _, k := range keys {
		ls, rs := lefts[k], rights[k]
		cg = append(cg, fmtJSON(KV[string, Pair[[]int, []string]]{k, Pair[[]int, []string]{ls, rs}}))
		for _, v := range ls {
			if len(rs) == 0 {
				l = append(l, fmtJSON(KV[string, Pair[int, Optional[string]]]{k, Pair[int, Optional[string]]{Left: v}}))
				f = append(f, fmtJSON(KV[string, Pair[Optional[int], Optional[string]]]{k, Pair[Optional[int], Optional[string]]{Left: Some(v)}}))
			}
			for _, w := range rs {
				j = append(j, fmtJSON(KV[string, Pair[int, string]]{k, Pair[int, string]{v, w}}))
				l = append(l, fmtJSON(KV[string, Pair[int, Optional[string]]]{k, Pair[int, Optional[string]]{v, Some(w)}}))
				r = append(r, fmtJSON(KV[string, Pair[Optional[int], string]]{k, Pair[Optional[int], string]{Some(v), w}}))
				f = append(f, fmtJSON(KV[string, Pair[Optional[int], Optional[string]]]{k, Pair[Optional[int], Optional[string]]{Some(v), Some(w)}}))
			}
		}
		for _, w := range rs {
			if len(ls) == 0 {
				r = append(r, fmtJSON(KV[string, Pair[Optional[int], string]]{k, Pair[Optional[int], string]{Right: w}}))
				f = append(f, fmtJSON(KV[string, Pair[Optional[int], Optional[string]]]{k, Pair[Optional[int], Optional[string]]{Right: Some(w)}}))
			}
		}
	}
	for name, vals := range map[string][]string{"cogroup": cg, "join": j, "leftOuterJoin": l, "rightOuterJoin": r, "fullOuterJoin": f} {
		want.put(name, n, vals)
	}
}
