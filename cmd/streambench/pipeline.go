package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/internal/benchstat"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// typedRun is a typed pipeline over the backlog: a Context whose state is
// checkpointed to a temporary directory (unless the state is kept per
// partition in a database, which needs no checkpoint), and the hub's
// events as a DStream for the pipeline to be built on.
type typedRun struct {
	ssc     *streaming.Context
	events  streaming.DStream[*eventhubs.Event]
	conf    *eventhubs.Conf
	store   *countingStore
	dir     string
	batches atomic.Int64
}

// newTypedRun makes the Context and the events' stream, checkpointed to a
// temporary directory when checkpointed says; close removes the directory.
func newTypedRun(connStr string, rate int64, interval time.Duration, checkpointed bool) (*typedRun, error) {
	r := &typedRun{conf: eventhubs.NewConf(connStr).SetMaxRatePerPartition(rate)}
	var err error
	r.ssc, err = streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return nil, err
	}
	if checkpointed {
		if r.dir, err = os.MkdirTemp("", "streambench"); err != nil {
			return nil, err
		}
		ds, err := streaming.NewDirStore(r.dir)
		if err != nil {
			r.close()
			return nil, err
		}
		r.store = &countingStore{d: ds}
		r.ssc.Checkpoint(r.store)
	}
	stream, err := eventhubs.CreateDirectStream(r.ssc, r.conf)
	if err == nil {
		r.events, err = eventhubs.Events(stream)
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *typedRun) close() {
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

// run runs the pipeline until it has read want events, and returns what
// it measured. The peak RSS is reset first, so that the one printed after
// is the pipeline's.
func (r *typedRun) run(want int64) (phase, error) {
	resetPeakRSS()
	var got atomic.Int64
	r.ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		r.batches.Add(1)
		if got.Add(b.Events) >= want {
			r.ssc.Stop(true)
		}
	}))
	end := startPhase()
	err := r.ssc.Run(context.Background())
	return end(got.Load()), err
}

// checkpointBytes says the checkpoint bytes written per batch: in all,
// of state and of checkpoint.json.
func (r *typedRun) checkpointBytes() string {
	n := float64(max(r.batches.Load(), 1))
	state, ck := float64(r.store.state.Load()), float64(r.store.ck.Load())
	return fmt.Sprintf("checkpointBytes/batch=%.0f (state %.0f, checkpoint.json %.0f)", (state+ck)/n, state/n, ck/n)
}

// countingStore is a DirStore that counts the bytes written.
type countingStore struct {
	d         *streaming.DirStore
	state, ck atomic.Int64
}

func (s *countingStore) Load(ctx context.Context) (*streaming.Checkpoint, error) {
	return s.d.Load(ctx)
}

func (s *countingStore) Save(ctx context.Context, c *streaming.Checkpoint) error {
	if b, err := json.MarshalIndent(c, "", "  "); err == nil {
		s.ck.Add(int64(len(b)) + 1)
	}
	return s.d.Save(ctx, c)
}

func (s *countingStore) WriteState(ctx context.Context, name string, b []byte) error {
	s.state.Add(int64(len(b)))
	return s.d.WriteState(ctx, name, b)
}

func (s *countingStore) ReadState(ctx context.Context, name string) ([]byte, error) {
	return s.d.ReadState(ctx, name)
}

func (s *countingStore) RemoveState(ctx context.Context, keep []string) error {
	return s.d.RemoveState(ctx, keep)
}

// phase is what one read of the backlog measured.
type phase struct {
	events    int64
	wall, cpu time.Duration // cpu: this process's, user and system
}

// startPhase starts measuring a phase; end gives it, once events were
// read.
func startPhase() (end func(events int64) phase) {
	wall, cpu := time.Now(), benchstat.CPUTime()
	return func(events int64) phase { return phase{events, time.Since(wall), benchstat.CPUTime() - cpu} }
}

func (p phase) rate() float64 { return float64(p.events) / p.wall.Seconds() }

func (p phase) cpuPerEvent() float64 {
	return float64(p.cpu.Nanoseconds()) / 1000 / float64(max(p.events, 1))
}

func (p phase) String() string {
	return fmt.Sprintf("events=%d seconds=%.2f events/s=%.0f cpu-us/event=%.2f", p.events, p.wall.Seconds(), p.rate(), p.cpuPerEvent())
}

// against is p's rate as a share of base's, by the clock and by the CPU
// each event took: on a machine others share, the CPU varies far less.
func (p phase) against(base phase) string {
	return fmt.Sprintf("ratio=%.2f cpuRatio=%.2f", p.rate()/base.rate(), base.cpuPerEvent()/p.cpuPerEvent())
}
