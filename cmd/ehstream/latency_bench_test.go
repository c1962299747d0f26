package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

var latencyDuration = flag.Duration("latency-duration", time.Minute, "how long BenchmarkLatency's producer sends")

// BenchmarkLatency measures end-to-end latency of the stream job into
// SQLite: a producer sends a steady 20,000 100-byte events/s to 4
// partitions for -latency-duration (60 s); the job's sink (writeBatch, as
// `ehstream stream` runs it) takes 100 ms batches. An event's latency is
// its batch's commit time (when writeBatch's commit returned) minus its
// enqueued time (read back from the table). It reports p50 and p99, and
// the same for a no-op output (the time it returned), for comparison:
//
//	go test -run x -bench Latency -benchtime 1x ./cmd/ehstream/
//	go test -run x -bench Latency/sqlite -benchtime 1x ./cmd/ehstream/ -latency-duration 10s
func BenchmarkLatency(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchLatency(b, true) })
	b.Run("noop", func(b *testing.B) { benchLatency(b, false) })
}

func benchLatency(b *testing.B, sqlite bool) {
	const (
		partitions = 4
		perSecond  = 20_000
		interval   = 100 * time.Millisecond
	)
	for b.Loop() {
		lat, batches := runLatency(b, sqlite, partitions, perSecond, interval, *latencyDuration)
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		var proc, delay time.Duration
		var late int
		for _, bi := range batches {
			proc += bi.ProcessingTime
			delay = max(delay, bi.SchedulingDelay)
			if bi.SchedulingDelay >= interval {
				late++
			}
		}
		for _, bi := range batches {
			if bi.ProcessingTime >= interval {
				b.Logf("slow batch %d at %s: %d events, took %s, started %s late", bi.Number, bi.Time.Format("15:04:05.000"), bi.Events,
					bi.ProcessingTime.Round(time.Millisecond), bi.SchedulingDelay.Round(time.Millisecond))
			}
		}
		b.Logf("%d events in %d batches: latency p50 %s, p90 %s, p99 %s, p99.9 %s, max %s; batches took %s on average, %d started an interval or more late (at most %s)",
			len(lat), len(batches), pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
			pct(0.999).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
			(proc / time.Duration(len(batches))).Round(time.Millisecond), late, delay.Round(time.Millisecond))
	}
}

// runLatency runs the producer and the job (with the SQLite sink, or
// else a no-op output), and returns every event's latency and the job's
// batch records.
func runLatency(b *testing.B, sqlite bool, partitions, perSecond int, interval, duration time.Duration) ([]time.Duration, []streaming.BatchInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "latency", Partitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	conf := eventhubs.NewConf(hub.ConnectionString()).SetMaxRatePerPartition(10_000)
	sk, err := sqlsink.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "latency.db"), "events")
	if err != nil {
		b.Fatal(err)
	}
	defer sk.Close()
	job, err := offsets.JobFor("latency", conf)
	if err != nil {
		b.Fatal(err)
	}
	job.Output = "events"

	// The job: as runStream wires it, with the commit time of each batch
	// taken where writeBatch returns.
	type commit struct {
		ranges []eventhubs.OffsetRange
		at     time.Time
	}
	var (
		mu        sync.Mutex
		commits   []commit
		committed int64
		batches   []streaming.BatchInfo
		noopLat   []time.Duration // the no-op output's
	)
	progress := make(chan struct{}, 1)
	ssc, err := streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true, SkipEmptyBatches: true})
	if err != nil {
		b.Fatal(err)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		b.Fatal(err)
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		var enqueued []time.Time
		if sqlite {
			if err := sk.WriteBatch(ctx, job, rdd); err != nil {
				return err
			}
		} else {
			var emu sync.Mutex
			err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
				var ts []time.Time
				for ev, err := range p.Events() {
					if err != nil {
						return err
					}
					ts = append(ts, ev.EnqueuedTime)
				}
				emu.Lock()
				enqueued = append(enqueued, ts...)
				emu.Unlock()
				return nil
			})
			if err != nil {
				return err
			}
		}
		at := time.Now()
		mu.Lock()
		for _, t := range enqueued {
			noopLat = append(noopLat, at.Sub(t))
		}
		commits = append(commits, commit{rdd.OffsetRanges(), at})
		committed += rdd.Count()
		mu.Unlock()
		select {
		case progress <- struct{}{}:
		default:
		}
		return nil
	})
	ssc.AddListener(streaming.ListenerFunc(func(bi streaming.BatchInfo) {
		mu.Lock()
		batches = append(batches, bi)
		mu.Unlock()
	}))
	ran := make(chan error, 1)
	go func() { ran <- ssc.Run(ctx) }()
	defer func() { ssc.Stop(false); <-ran }()
	waitCommitted := func(n int64) {
		for {
			mu.Lock()
			done := len(commits) > 0 && committed >= n
			mu.Unlock()
			if done {
				return
			}
			select {
			case <-progress:
			case err := <-ran:
				b.Fatalf("the stream stopped: %v", err)
			case <-ctx.Done():
				b.Fatalf("waiting for %d events to be committed: %v", n, ctx.Err())
			}
		}
	}
	waitCommitted(0) // the first batch: the stream runs

	sent, err := produceSteadily(ctx, hub.ConnectionString(), partitions, perSecond, duration)
	if err != nil {
		b.Fatal(err)
	}
	waitCommitted(sent)

	// Each event's commit time is its batch's: find the batch by the
	// partition's ranges, then subtract the enqueued time in its row.
	byPartition := map[string][]commit{}
	mu.Lock()
	for _, c := range commits {
		for _, r := range c.ranges {
			if r.Count() > 0 {
				byPartition[r.PartitionID] = append(byPartition[r.PartitionID], commit{[]eventhubs.OffsetRange{r}, c.at})
			}
		}
	}
	records := slices.Clone(batches)
	mu.Unlock()
	if !sqlite {
		if int64(len(noopLat)) != sent {
			b.Fatalf("%d events read, %d sent", len(noopLat), sent)
		}
		return noopLat, records
	}
	rows, err := sk.DB.QueryContext(ctx, `SELECT partition_id, sequence_number, enqueued_time FROM events`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	lat := make([]time.Duration, 0, sent)
	for rows.Next() {
		var part, enq string
		var seq int64
		if err := rows.Scan(&part, &seq, &enq); err != nil {
			b.Fatal(err)
		}
		cs := byPartition[part]
		i := sort.Search(len(cs), func(i int) bool { return cs[i].ranges[0].UntilSeqNo > seq })
		if i == len(cs) || cs[i].ranges[0].FromSeqNo > seq {
			b.Fatalf("partition %s sequence number %d is in no committed batch", part, seq)
		}
		t, err := time.Parse(time.RFC3339Nano, enq)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, cs[i].at.Sub(t))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if int64(len(lat)) != sent {
		b.Fatalf("%d rows in the table, %d events sent", len(lat), sent)
	}
	return lat, records
}

// produceSteadily sends perSecond events a second, spread evenly over the
// partitions (one goroutine each, sending every 10 ms what is due), for
// duration, and returns how many it sent.
func produceSteadily(ctx context.Context, connStr string, partitions, perSecond int, duration time.Duration) (int64, error) {
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		return 0, err
	}
	defer p.Close(context.Background())
	body := make([]byte, 100)
	start := time.Now()
	perPartition := float64(perSecond) / float64(partitions)
	total := int64(perPartition * duration.Seconds())
	errs := make(chan error, partitions)
	for part := range partitions {
		go func() {
			id := strconv.Itoa(part)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			var sent int64
			for sent < total {
				due := min(int64(perPartition*time.Since(start).Seconds()), total)
				for sent < due {
					batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
					if err != nil {
						errs <- err
						return
					}
					n := int64(0)
					for ; sent+n < due; n++ {
						if batch.AddEventData(&azeventhubs.EventData{Body: body, Properties: map[string]any{"part": id}}, nil) != nil {
							break
						}
					}
					if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
						errs <- err
						return
					}
					sent += n
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
			errs <- nil
		}()
	}
	for range partitions {
		if err := <-errs; err != nil {
			return 0, fmt.Errorf("producing: %w", err)
		}
	}
	return total * int64(partitions), nil
}
