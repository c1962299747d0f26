package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/sqlsink"
)

// BenchmarkReplicas measures, with replicas of `ehstream stream` sharing an
// 8-partition hub through PostgreSQL (EHSTREAM_TEST_POSTGRES), how long a
// takeover takes after kill -9 and after SIGTERM (interval 1 s,
// expiration 3 s), and the throughput of 1 and of 2 replicas over a
// backlog of 160,000 events, in the same run:
//
//	go test -run x -bench Replicas -benchtime 1x -count 5 ./cmd/ehstream/
func BenchmarkReplicas(b *testing.B) {
	pgBase := os.Getenv("EHSTREAM_TEST_POSTGRES")
	if pgBase == "" {
		b.Skip("EHSTREAM_TEST_POSTGRES is not set: the replicas benchmark needs PostgreSQL")
	}
	bin, err := buildBinary()
	if err != nil {
		b.Fatal(err)
	}
	const partitions = 8
	const interval, expiration = time.Second, 3 * time.Second

	// replicas starts n replicas of a job on a fresh database and hub.
	type run struct {
		connStr, pg string
		procs       []*streamProcess
		store       azeventhubs.CheckpointStore
	}
	start := func(b *testing.B, hubEvents int, n int) *run {
		srv, err := emulator.Start(context.Background(), &emulator.Config{Hubs: []emulator.HubConfig{{Name: "bench", PartitionCount: partitions}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		r := &run{connStr: srv.ConnectionString("bench"), pg: createPostgresDB(b, pgBase)}
		if hubEvents > 0 {
			if err := <-sendRounds(context.Background(), r.connStr, partitions, hubEvents/partitions, 5000); err != nil {
				b.Fatal(err)
			}
		}
		for i := range n {
			p := startStreamProcess(b, bin, "--connection-string", r.connStr, "--sink", r.pg, "--table", "events", "--job", "bench",
				"--batch-interval", "100ms", "--max-rate-per-partition", "10000", "--ownership", r.pg, "--owner-id", fmt.Sprint("r", i),
				"--ownership-interval", interval.String(), "--ownership-expiration", expiration.String())
			p.waitFor(b, "sharing the partitions")
			r.procs = append(r.procs, p)
		}
		if n == 0 {
			return r
		}
		var closer interface{ Close() error }
		r.store, closer, err = ownership.Open(context.Background(), r.pg, "bench", &ownership.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { closer.Close() })
		return r
	}
	// owners is each partition's live owner.
	owners := func(b *testing.B, r *run) map[string]string {
		cs, _ := eventhubs.ParseConnectionString(r.connStr)
		return liveOwners(b, context.Background(), r.store, cs.Namespace(), "bench", expiration)
	}
	until := func(b *testing.B, what string, cond func() bool) time.Duration {
		begin := time.Now()
		for !cond() {
			if time.Since(begin) > time.Minute {
				b.Fatalf("%s: not within a minute", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(begin)
	}
	takeover := func(b *testing.B, sig syscall.Signal) {
		for b.Loop() {
			r := start(b, 0, 2)
			until(b, "both replicas own partitions", func() bool {
				n := map[string]int{}
				for _, o := range owners(b, r) {
					n[o]++
				}
				return n["r0"] >= 1 && n["r1"] >= 1 && n["r0"]+n["r1"] == partitions
			})
			r.procs[1].cmd.Process.Signal(sig)
			<-r.procs[1].exited
			took := until(b, "the survivor owning every partition", func() bool {
				own := owners(b, r)
				if len(own) != partitions {
					return false
				}
				for _, o := range own {
					if o != "r0" {
						return false
					}
				}
				return true
			})
			b.ReportMetric(took.Seconds(), "s/takeover")
			r.procs[0].cmd.Process.Signal(syscall.SIGTERM)
			<-r.procs[0].exited
		}
	}
	b.Run("takeover-kill", func(b *testing.B) { takeover(b, syscall.SIGKILL) })
	b.Run("takeover-sigterm", func(b *testing.B) { takeover(b, syscall.SIGTERM) })

	throughput := func(b *testing.B, n int) {
		const events = 160_000
		for b.Loop() {
			b.StopTimer()
			r := start(b, events, 0)
			b.StartTimer()
			for i := range n {
				p := startStreamProcess(b, bin, "--connection-string", r.connStr, "--sink", r.pg, "--table", "events", "--job", "bench",
					"--batch-interval", "100ms", "--max-rate-per-partition", "10000", "--ownership", r.pg, "--owner-id", fmt.Sprint("t", i),
					"--ownership-interval", interval.String(), "--ownership-expiration", expiration.String())
				r.procs = append(r.procs, p)
			}
			sk, err := sqlsink.Open(context.Background(), r.pg, "events")
			if err != nil {
				b.Fatal(err)
			}
			job, err := offsets.JobFor("bench", eventhubs.NewConf(r.connStr))
			if err != nil {
				b.Fatal(err)
			}
			// Balanced claims take a round per partition at first; the
			// throughput counts from when the replicas own every partition.
			done := func() (int64, bool) {
				for _, p := range r.procs {
					select {
					case err := <-p.exited:
						b.Fatalf("a replica exited (%v):\n%s", err, p.output())
					default:
					}
				}
				ps, err := sk.Store.Positions(context.Background(), job)
				if err != nil {
					b.Fatal(err)
				}
				var sum int64
				end := len(ps) == partitions
				for _, p := range ps {
					sum += p.Next
					end = end && p.Next == events/partitions
				}
				return sum, end
			}
			var from int64
			var owned time.Time
			if r.store == nil {
				var closer interface{ Close() error }
				if r.store, closer, err = ownership.Open(context.Background(), r.pg, "bench", &ownership.Options{ReadOnly: true}); err != nil {
					until(b, "the ownership table", func() bool {
						r.store, closer, err = ownership.Open(context.Background(), r.pg, "bench", &ownership.Options{ReadOnly: true})
						return err == nil
					})
				}
				defer closer.Close()
			}
			rampUp := until(b, "the replicas owning every partition", func() bool {
				if len(owners(b, r)) < partitions {
					return false
				}
				from, _ = done()
				owned = time.Now()
				return true
			})
			until(b, "the replicas reaching the end", func() bool { _, end := done(); return end })
			b.ReportMetric(float64(events-from)/time.Since(owned).Seconds(), "events/s")
			b.ReportMetric(rampUp.Seconds(), "s/all-owned")
			sk.Close()
			for _, p := range r.procs {
				p.cmd.Process.Signal(syscall.SIGTERM)
				<-p.exited
			}
		}
	}
	b.Run("throughput-1", func(b *testing.B) { throughput(b, 1) })
	b.Run("throughput-2", func(b *testing.B) { throughput(b, 2) })
}
