package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// BenchmarkStreamJob runs `ehstream stream --until-idle` over a backlog of
// 200,000 100-byte events in 4 partitions into SQLite and PostgreSQL (with
// EHSTREAM_TEST_POSTGRES), and a direct stream with a no-op output over
// the same events, in the same run:
//
//	go test -run x -bench StreamJob -benchtime 1x -count 5 ./cmd/ehstream/
func BenchmarkStreamJob(b *testing.B) {
	const partitions, perPartition = 4, 50_000
	const n = partitions * perPartition
	srv, err := emulator.Start(context.Background(), &emulator.Config{Hubs: []emulator.HubConfig{{Name: "bench", PartitionCount: partitions}}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { eventhubs.CloseAll(context.Background()); srv.Close() }()
	cs := srv.ConnectionString("bench")
	ctx := context.Background()
	if err := <-sendRounds(ctx, cs, partitions, perPartition, 5000); err != nil {
		b.Fatal(err)
	}
	const rate, interval = "10000", 100 * time.Millisecond

	b.Run("noop", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			ssc, err := streaming.NewContext(interval, &streaming.ContextOptions{NoBatchLog: true})
			if err != nil {
				b.Fatal(err)
			}
			ds, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(cs).SetMaxRatePerPartition(10000))
			if err != nil {
				b.Fatal(err)
			}
			var got atomic.Int64
			ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
				err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
					for _, err := range p.Events() {
						if err != nil {
							return err
						}
						got.Add(1)
					}
					return nil
				})
				if got.Load() >= n {
					ssc.Stop(true)
				}
				return err
			})
			if err := ssc.Run(ctx); err != nil || got.Load() != n {
				b.Fatalf("streamed %d events, %v", got.Load(), err)
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
	})

	job := func(b *testing.B, sink string) {
		start := time.Now()
		for b.Loop() {
			table := uniqueName("bench")
			var out strings.Builder
			code := run(ctx, []string{"stream", "--connection-string", cs, "--sink", sink, "--table", table, "--job", table,
				"--until-idle", "--batch-interval", interval.String(), "--max-rate-per-partition", rate},
				stdio{in: strings.NewReader(""), out: &out, err: io.Discard})
			if code != 0 || !strings.Contains(out.String(), fmt.Sprintf("wrote %d events", n)) {
				b.Fatalf("exit %d:\n%s", code, out.String())
			}
			if strings.HasPrefix(sink, "postgres") {
				b.StopTimer()
				sk, err := openSink(ctx, sink, "")
				if err == nil {
					sk.db.Exec("DROP TABLE " + table)
					sk.close()
				}
				b.StartTimer()
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
	}
	b.Run("sqlite", func(b *testing.B) {
		job(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
	})
	b.Run("postgres", func(b *testing.B) {
		url := os.Getenv("EHSTREAM_TEST_POSTGRES")
		if url == "" {
			b.Skip("EHSTREAM_TEST_POSTGRES is not set")
		}
		job(b, url)
	})
}
