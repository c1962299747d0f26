package streaming

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// item is what scripted inputs carry: a key and a value.
type item = KV[string, int]

// scriptInput is an Input whose batches a test scripts: batch n reads
// script[n-1], one slice of items per partition, and feeds them to its
// DStream source. Positions are the count of items read per partition, so
// a checkpoint's ranges replay exactly the scripted batch.
type scriptInput struct {
	script [][][]item
	parts  int
	logs   [][]item // per partition, every scripted item in order
	src    *Source[item]

	mu      sync.Mutex
	planned int64 // batches planned (or replayed)
	next    []int64

	// A Context without a checkpoint that goes on after another: the
	// batches done before it, and where its partitions start.
	first   int64
	startAt map[string]int64
}

func newScriptInput(t testing.TB, ssc *Context, script [][][]item) *scriptInput {
	t.Helper()
	in := &scriptInput{script: script, parts: len(script[0])}
	in.logs = make([][]item, in.parts)
	for _, b := range script {
		for p, items := range b {
			in.logs[p] = append(in.logs[p], items...)
		}
	}
	if err := ssc.AddInput(in); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource[item](ssc, in)
	if err != nil {
		t.Fatal(err)
	}
	in.src = src
	return in
}

func (s *scriptInput) Identity() Identity { return Identity{"kind": "script"} }

func (s *scriptInput) Start(ctx context.Context, resume map[string]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = make([]int64, s.parts)
	if len(resume) == 0 {
		resume = s.startAt
	}
	for p := range s.parts {
		s.next[p] = resume[fmt.Sprint(p)]
	}
	return nil
}

func (s *scriptInput) Plan(ctx context.Context, _ time.Time) (Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var plan Plan
	for p := range s.parts {
		n := int64(0)
		if int(s.planned) < len(s.script) {
			n = int64(len(s.script[s.planned][p]))
		}
		plan.Ranges = append(plan.Ranges, Range{Source: "script", Partition: fmt.Sprint(p), From: s.next[p], Until: s.next[p] + n})
		s.next[p] += n
	}
	s.planned++
	return plan, nil
}

func (s *scriptInput) Run(ctx context.Context, b *Batch) (Result, error) {
	s.mu.Lock()
	s.planned = s.first + b.Number
	parts := make([][]item, s.parts)
	for _, r := range b.Ranges {
		var p int
		fmt.Sscan(r.Partition, &p)
		parts[p] = s.logs[p][r.From:r.Until]
		s.next[p] = r.Until
	}
	s.mu.Unlock()
	return Result{Events: countRanges(b.Ranges)}, s.src.Feed(ctx, SlicePartitions(parts))
}

func (s *scriptInput) Stop() {}

// randomScript makes batches of random items over keys k0..k(keys-1), with
// empty partitions and empty batches.
func randomScript(r *rand.Rand, batches, parts, keys int) [][][]item {
	script := make([][][]item, batches)
	for n := range script {
		script[n] = make([][]item, parts)
		if r.IntN(6) == 0 {
			continue // an empty batch
		}
		for p := range parts {
			for range r.IntN(8) {
				script[n][p] = append(script[n][p], item{Key: fmt.Sprintf("k%d", r.IntN(keys)), Value: r.IntN(10) - 3})
			}
		}
	}
	return script
}

// memStore is a StateStore in memory, whose checkpoints go through JSON
// as a DirStore's do.
type memStore struct {
	mu     sync.Mutex
	ck     []byte
	files  map[string][]byte
	saves  int
	bytes  int64 // state file bytes written
	failAt func(c *Checkpoint) error
}

func newMemStore() *memStore { return &memStore{files: map[string][]byte{}} }

func (m *memStore) Load(ctx context.Context) (*Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ck == nil {
		return nil, nil
	}
	var c Checkpoint
	return &c, json.Unmarshal(m.ck, &c)
}

func (m *memStore) Save(ctx context.Context, c *Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAt != nil {
		if err := m.failAt(c); err != nil {
			return err
		}
	}
	b, err := json.Marshal(c)
	m.ck, m.saves = b, m.saves+1
	return err
}

func (m *memStore) WriteState(ctx context.Context, name string, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = slices.Clone(b)
	m.bytes += int64(len(b))
	return nil
}

func (m *memStore) ReadState(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[name]
	if !ok {
		return nil, fmt.Errorf("no state file %s", name)
	}
	return b, nil
}

func (m *memStore) RemoveState(ctx context.Context, keep []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.files {
		if !slices.Contains(keep, name) && name < keep[0] {
			delete(m.files, name)
		}
	}
	return nil
}

// recorder keeps what outputs saw, per output name and batch: each
// batch's values, formatted and sorted.
type recorder struct {
	mu   sync.Mutex
	seen map[string]map[int64][]string
}

func newRecorder() *recorder { return &recorder{seen: map[string]map[int64][]string{}} }

func record[T any](rec *recorder, name string, ds DStream[T]) {
	ForeachBatch(ds, func(ctx context.Context, b *BatchData[T]) error {
		vals, err := b.Collect(ctx)
		if err != nil {
			return err
		}
		rec.put(name, b.Number(), vals)
		return nil
	})
}

func (r *recorder) put(name string, batch int64, vals any) {
	var out []string
	b, _ := json.Marshal(vals)
	var raw []json.RawMessage
	json.Unmarshal(b, &raw)
	for _, v := range raw {
		out = append(out, string(v))
	}
	slices.Sort(out)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[name] == nil {
		r.seen[name] = map[int64][]string{}
	}
	if _, dup := r.seen[name][batch]; dup {
		panic(fmt.Sprintf("output %s saw batch %d twice", name, batch))
	}
	r.seen[name][batch] = out
}

// compare fails the test where got and want differ, batch by batch.
func compare(t *testing.T, what string, got, want map[string]map[int64][]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		g, w := got[name], want[name]
		for _, n := range slices.Sorted(maps.Keys(w)) {
			if strings.Join(g[n], " ") != strings.Join(w[n], " ") {
				t.Fatalf("%s: output %s, batch %d:\n got %v\nwant %v", what, name, n, g[n], w[n])
			}
		}
		if len(g) != len(w) {
			t.Fatalf("%s: output %s ran in %d batches, the oracle's in %d: %v", what, name, len(g), len(w), slices.Sorted(maps.Keys(g)))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d outputs ran, the oracle has %d", what, len(got), len(want))
	}
}

func fmtJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// runUntil runs ssc until it completed batch last, or fails.
func runUntil(t *testing.T, ssc *Context, last int64) error {
	t.Helper()
	ssc.AddListener(ListenerFunc(func(b BatchInfo) {
		if b.Number >= last {
			ssc.Stop(true)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return ssc.Run(ctx)
}
