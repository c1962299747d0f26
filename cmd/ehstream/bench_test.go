package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/countstream"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/sqlsink"
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
	ctx := context.Background()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "bench", Partitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	cs := hub.ConnectionString()
	if err := localhub.Fill(ctx, cs, partitions, perPartition, &localhub.FillOptions{Step: 5000, Properties: true}); err != nil {
		b.Fatal(err)
	}
	const rate, interval = "10000", 100 * time.Millisecond

	b.Run("noop", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			if _, err := countstream.Run(ctx, eventhubs.NewConf(cs).SetMaxRatePerPartition(10000), interval, n); err != nil {
				b.Fatal(err)
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
				sk, err := sqlsink.Open(ctx, sink, "")
				if err == nil {
					sk.DB.Exec("DROP TABLE " + table)
					sk.Close()
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
