package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/streaming"
)

// planningConfig is what the flags of -planning say.
type planningConfig struct {
	on          bool
	idleBatches int
	loadEvents  int
}

func (c *planningConfig) flags() {
	flag.BoolVar(&c.on, "planning", false, "measure a direct stream's batch planning instead: management calls per batch "+
		"and batch time on an empty hub of -partitions, then while a producer sends -load-events")
	flag.IntVar(&c.idleBatches, "idle-batches", 20, "with -planning: the idle batches measured")
	flag.IntVar(&c.loadEvents, "load-events", 2_000, "with -planning: the events a producer spreads over every partition after the idle batches")
}

// check says which flag is wrong and what it takes.
func (c *planningConfig) check() error {
	if c.on && (c.idleBatches < 1 || c.loadEvents < 1) {
		return fmt.Errorf("-idle-batches %d, -load-events %d: give positive numbers", c.idleBatches, c.loadEvents)
	}
	return nil
}

// phaseStats is what the batches of one phase of -planning did.
type phaseStats struct {
	batches int
	events  int64
	times   []time.Duration // each batch's processing time, planning included
	calls   map[emulator.ManagementOp]int64
}

func (p *phaseStats) add(b streaming.BatchInfo) {
	p.batches++
	p.events += b.Events
	p.times = append(p.times, b.ProcessingTime)
}

// callsPerBatch is the phase's management calls per batch, of every
// operation.
func (p *phaseStats) callsPerBatch() float64 {
	var n int64
	for _, v := range p.calls {
		n += v
	}
	return float64(n) / float64(max(p.batches, 1))
}

// The phases of -planning, in order.
const (
	phaseWarm = iota // the first batch: the stream's start
	phaseIdle        // idleBatches batches of an empty hub
	phaseLoad        // while a producer sends, until all is read
)

// planningRun is one run of -planning: a direct stream on hub, whose
// batches the emulator's management counts are read at.
type planningRun struct {
	c       config
	hub     *localhub.Hub
	ssc     *streaming.Context
	next    []int64 // each partition's next sequence number expected
	misread atomic.Int64
	read    atomic.Int64
	sent    chan error

	mu         sync.Mutex
	phase      int
	mark       map[emulator.ManagementOp]int64 // the counts when the phase began
	idle, load phaseStats
}

// runPlanning starts an empty hub and a direct stream on it, measures
// c.planning.idleBatches idle batches, then sends c.planning.loadEvents
// events spread over every partition and measures the batches until the
// stream has read them, checking that it read each exactly once.
func runPlanning(ctx context.Context, c config, w io.Writer) (*planningRun, error) {
	dir, err := os.MkdirTemp("", "peerbench-planning-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &planningRun{c: c, next: make([]int64, c.partitions), sent: make(chan error, 1)}
	if r.hub, err = startHub(ctx, c, dir); err != nil {
		return nil, err
	}
	defer r.hub.Close()
	if err := r.stream(ctx); err != nil {
		return nil, err
	}
	// Only the load's end, or the producer's failure, stops the stream
	// without an error: the producer has run.
	select {
	case err := <-r.sent:
		if err != nil {
			return nil, fmt.Errorf("sending the load: %w", err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := r.checkReadOnce(); err != nil {
		return nil, err
	}
	r.report(w)
	return r, nil
}

// stream runs the direct stream until the listener stops it.
func (r *planningRun) stream(ctx context.Context) error {
	var err error
	if r.ssc, err = streaming.NewContext(r.c.interval, &streaming.ContextOptions{NoBatchLog: true}); err != nil {
		return err
	}
	ds, err := eventhubs.CreateDirectStream(r.ssc, eventhubs.NewConf(r.hub.ConnectionString()).SetMaxRatePerPartition(r.c.rate).
		SetReadAhead(r.c.readAhead))
	if err != nil {
		return err
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		return rdd.ForeachPartition(ctx, r.readPartition)
	})
	r.ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) { r.onBatch(ctx, b) }))
	return r.ssc.Run(ctx)
}

// readPartition reads a batch's events of one partition, counting those
// that do not follow the partition's last one read (a gap or a repeat).
func (r *planningRun) readPartition(ctx context.Context, p *eventhubs.Partition) error {
	i, err := strconv.Atoi(p.Range().PartitionID)
	if err != nil || i < 0 || i >= len(r.next) {
		return fmt.Errorf("partition ID %q: want 0 to %d", p.Range().PartitionID, len(r.next)-1)
	}
	for e, err := range p.Events() {
		if err != nil {
			return err
		}
		if e.SequenceNumber != r.next[i] {
			r.misread.Add(1)
		}
		r.next[i] = e.SequenceNumber + 1
		r.read.Add(1)
	}
	return nil
}

// onBatch moves the run through its phases as batches complete, reading
// the emulator's management counts at each phase's ends.
func (r *planningRun) onBatch(ctx context.Context, b streaming.BatchInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.hub.Server.Stats().ManagementRequests
	switch r.phase {
	case phaseWarm:
		r.mark, r.phase = calls, phaseIdle
	case phaseIdle:
		r.idle.add(b)
		if r.idle.batches == r.c.planning.idleBatches {
			r.idle.calls, r.mark, r.phase = since(calls, r.mark), calls, phaseLoad
			go func() {
				err := r.produce(ctx)
				if err != nil {
					r.ssc.Stop(false) // nothing more will come to read
				}
				r.sent <- err
			}()
		}
	default:
		r.load.add(b)
		if r.read.Load() >= int64(r.c.planning.loadEvents) {
			r.load.calls = since(calls, r.mark)
			r.ssc.Stop(true)
		}
	}
}

// produce sends loadEvents events spread over every partition, the first
// loadEvents % partitions partitions one more than the others (share).
func (r *planningRun) produce(ctx context.Context) error {
	n, parts, cs := r.c.planning.loadEvents, r.c.partitions, r.hub.ConnectionString()
	if n/parts > 0 {
		if err := localhub.Fill(ctx, cs, parts, n/parts, &localhub.FillOptions{Size: r.c.size}); err != nil {
			return err
		}
	}
	if n%parts > 0 {
		return localhub.Fill(ctx, cs, n%parts, 1, &localhub.FillOptions{Size: r.c.size})
	}
	return nil
}

// share is how many events produce sends to partition i.
func (r *planningRun) share(i int) int64 {
	n, parts := r.c.planning.loadEvents, r.c.partitions
	if i < n%parts {
		return int64(n/parts + 1)
	}
	return int64(n / parts)
}

// checkReadOnce says whether the stream read each event sent exactly once:
// every partition's events in order from 0 to its share, nothing else, and
// none while the hub was idle.
func (r *planningRun) checkReadOnce() error {
	var errs []error
	if r.idle.events != 0 {
		errs = append(errs, fmt.Errorf("the idle batches read %d events of an empty hub", r.idle.events))
	}
	if m := r.misread.Load(); m > 0 {
		errs = append(errs, fmt.Errorf("%d events did not follow their partition's last one read (a gap or a repeat)", m))
	}
	if got, want := r.read.Load(), int64(r.c.planning.loadEvents); got != want {
		errs = append(errs, fmt.Errorf("read %d events, sent %d", got, want))
	}
	for i, next := range r.next {
		if next != r.share(i) {
			errs = append(errs, fmt.Errorf("partition %d: read up to sequence number %d, sent %d events", i, next, r.share(i)))
			break
		}
	}
	return errors.Join(errs...)
}

// report prints each phase's management calls per batch and batch times.
func (r *planningRun) report(w io.Writer) {
	fmt.Fprintf(w, "hub of %d partitions, batch interval %s, max rate %d per partition\n", r.c.partitions, r.c.interval, r.c.rate)
	fmt.Fprintf(w, "%-5s %8s %8s %16s %22s %10s %10s %10s\n", "phase", "batches", "events", "calls per batch", "(hub, partition, other)", "batch p50", "mean", "max")
	for _, ph := range []struct {
		name string
		s    *phaseStats
	}{{"idle", &r.idle}, {"load", &r.load}} {
		s := ph.s
		mid, mean, top := durations(s.times)
		fmt.Fprintf(w, "%-5s %8d %8d %16.1f %22s %10s %10s %10s\n", ph.name, s.batches, s.events, s.callsPerBatch(),
			fmt.Sprintf("(%d, %d, %d)", s.calls[emulator.ManagementHub], s.calls[emulator.ManagementPartition], s.calls[emulator.ManagementOther]),
			mid.Round(10*time.Microsecond), mean.Round(10*time.Microsecond), top.Round(10*time.Microsecond))
	}
	fmt.Fprintf(w, "load: %d events sent over %d partitions, each read exactly once\n", r.c.planning.loadEvents, r.c.partitions)
}

// since is the counts of now less those of then.
func since(now, then map[emulator.ManagementOp]int64) map[emulator.ManagementOp]int64 {
	out := make(map[emulator.ManagementOp]int64, len(now))
	for op, n := range now {
		out[op] = n - then[op]
	}
	return out
}

// durations is the median, mean and max of ds.
func durations(ds []time.Duration) (mid, mean, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Sorted(slices.Values(ds))
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return s[len(s)/2], sum / time.Duration(len(s)), s[len(s)-1]
}
