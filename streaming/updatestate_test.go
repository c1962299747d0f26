package streaming

import (
	"strings"
	"testing"
	"time"
)

// decay is the UpdateStateByKey test's function: a key's state adds its
// values, falls by one in a batch without values, and goes at 0 or less,
// or above 15.
func decay(key string, values []int, state Optional[int]) Optional[int] {
	s := state.Value
	for _, v := range values {
		s += v
	}
	if len(values) == 0 {
		s--
	}
	if s <= 0 || s > 15 {
		return Optional[int]{}
	}
	return Some(s)
}

func stateOps(t testing.TB, src DStream[item], rec *recorder) {
	t.Helper()
	us, err := UpdateStateByKey(src, decay, &UpdateStateOptions[string, int]{Initial: map[string]int{"k1": 3}})
	if err != nil {
		t.Fatal(err)
	}
	record(rec, "updateStateByKey", us.Named("decay"))
	ms, err := MapWithState(src, StateSpec[string, int, int, int]{Func: func(key string, v int, st *State[int]) int {
		s, _ := st.Get()
		if s += v; s > 12 {
			st.Remove()
		} else {
			st.Update(s)
		}
		return s
	}})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := StateSnapshots[string, int](ms)
	if err != nil {
		t.Fatal(err)
	}
	record(rec, "stateSnapshots", snaps)
}

// stateOracle keeps both states in plain maps, one item after the other.
type stateOracle struct{ decayed, totals map[string]int }

func newStateOracle() *stateOracle {
	return &stateOracle{decayed: map[string]int{"k1": 3}, totals: map[string]int{}}
}

func (o *stateOracle) batch(want wanted, n int64, batch []item) {
	values := map[string][]int{}
	for _, kv := range batch {
		values[kv.Key] = append(values[kv.Key], kv.Value)
		if s := o.totals[kv.Key] + kv.Value; s > 12 {
			delete(o.totals, kv.Key)
		} else {
			o.totals[kv.Key] = s
		}
	}
	for k := range values {
		if _, ok := o.decayed[k]; !ok {
			o.decayed[k] = 0
		}
	}
	for k, s := range o.decayed {
		if next := decay(k, values[k], Optional[int]{Value: s, Present: true}); next.Present {
			o.decayed[k] = next.Value
		} else {
			delete(o.decayed, k)
		}
	}
	var us, ss []string
	for k, s := range o.decayed {
		us = append(us, fmtJSON(item{k, s}))
	}
	for k, s := range o.totals {
		ss = append(ss, fmtJSON(item{k, s}))
	}
	want.put("updateStateByKey", n, us)
	want.put("stateSnapshots", n, ss)
}

// StateSnapshots of a stream not made by MapWithState, or with other
// types, is an error that names what the stream is.
func TestStateSnapshotsRefusesOtherStreams(t *testing.T) {
	ssc := newTestContext(t, time.Second)
	src := newScriptInput(t, ssc, [][][]item{{nil}}).src.Stream()
	if _, err := StateSnapshots[string, int](src); err == nil || !strings.Contains(err.Error(), "not made by MapWithState") {
		t.Errorf("StateSnapshots of a source: %v", err)
	}
	ms, err := MapWithState(src, StateSpec[string, int, int, int]{Func: func(string, int, *State[int]) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StateSnapshots[string, string](ms); err == nil || !strings.Contains(err.Error(), "made by MapWithState[string, int, int]") {
		t.Errorf("StateSnapshots with another state type: %v", err)
	}
	if _, err := UpdateStateByKey[string, int, int](src, nil, nil); err == nil || !strings.Contains(err.Error(), "update is nil") {
		t.Errorf("UpdateStateByKey without a function: %v", err)
	}
}
