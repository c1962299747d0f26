// Command peerbench measures a direct stream against its peers, the
// official Go SDK's own ways of reading a hub, in one run: bare SDK
// receivers (one azeventhubs PartitionClient per partition), the SDK's
// Processor (a checkpoint store, no checkpoint written), and a direct
// stream of package eventhubs, each reading the same backlog once with a
// no-op handler. It is the peer benchmark of issue 29; -planning measures
// instead what a direct stream's batch planning costs on a large hub. The
// emulator runs in this process, its partition logs on disk (a temporary
// directory) as it normally runs.
//
//	go run ./cmd/peerbench                                   # a quick run
//	go run ./cmd/peerbench -events 400000 -runs 3
//	go run ./cmd/peerbench -events 1600000 -runs 3
//	go run ./cmd/peerbench -planning -partitions 1024 -load-events 100000
//
// The hub (-partitions, default 8) is filled with -events events of -size
// bytes (100, as streambench's), spread evenly over the partitions. Each
// run then reads all of them with each reader in turn, from the start:
//
//   - bare: a PartitionClient per partition, each in its own goroutine,
//     receiving until it has read its partition's share;
//   - Processor: azeventhubs.Processor with the greedy strategy (it claims
//     every partition in its first round), ownership kept in a SQLite file
//     by package ownership, a goroutine per partition client;
//   - stream: eventhubs.CreateDirectStream counting every event
//     (internal/countstream), at -batch-interval and
//     -max-rate-per-partition (streambench's 100 ms and 10,000), reading
//     ahead -read-ahead bytes per partition (the stream's default, 1 MiB;
//     0 turns it off, here and with -planning).
//
// All three receive with the stream's prefetch (eventhubs.DefaultPrefetch).
// A reader that reads more or fewer events than the hub holds fails the
// run. Each run begins with the next reader (bare, Processor, stream;
// then Processor, stream, bare; ...). The report gives each reader's
// medians over -runs runs of events/s and of the process's CPU time per
// event (the in-process emulator's included), and the ratios stream /
// Processor and stream / bare of both.
//
// Files: main.go (flags, the hub, the runs and the report), readers.go
// (the three readers), planning.go (-planning: management calls per batch
// and the batch overhead, idle and under load).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/benchstat"
	"github.com/ehstream/ehstream/internal/localhub"
)

// config is what the flags say.
type config struct {
	events, partitions, size, runs int
	interval                       time.Duration
	rate, readAhead                int64 // the stream's (eventhubs.Conf.SetMaxRatePerPartition, SetReadAhead)
	planning                       planningConfig
}

func main() {
	var c config
	flag.IntVar(&c.events, "events", 8_000, "backlog size, spread evenly over the partitions")
	flag.IntVar(&c.partitions, "partitions", 8, "partitions of the hub")
	flag.IntVar(&c.size, "size", 100, "event body size in bytes")
	flag.IntVar(&c.runs, "runs", 3, "runs; the report gives their medians")
	flag.DurationVar(&c.interval, "batch-interval", 100*time.Millisecond, "the stream's batch interval")
	flag.Int64Var(&c.rate, "max-rate-per-partition", 10_000, "the stream's rate per partition per batch")
	flag.Int64Var(&c.readAhead, "read-ahead", eventhubs.DefaultReadAhead, "the stream's read-ahead in bytes per partition (0: off, planning asks every partition every batch)")
	c.planning.flags()
	flag.Parse()
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(2)
	}
	// Interrupted, the run ends and its temporary directory is removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if c.planning.on {
		_, err = runPlanning(ctx, c, os.Stdout)
	} else {
		var res *results
		if res, err = run(ctx, c); err == nil {
			res.report(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

// check says which flag is wrong and what it takes.
func (c *config) check() error {
	switch {
	case c.partitions < 1:
		return fmt.Errorf("-partitions %d: give 1 or more", c.partitions)
	case !c.planning.on && c.events < c.partitions:
		return fmt.Errorf("-events %d: give at least one per partition (-partitions %d)", c.events, c.partitions)
	case c.size < 1 || c.runs < 1:
		return fmt.Errorf("-size %d, -runs %d: give positive numbers", c.size, c.runs)
	case c.interval <= 0 || c.rate < 1:
		return fmt.Errorf("-batch-interval %s, -max-rate-per-partition %d: give positive ones, say 100ms and 10000", c.interval, c.rate)
	case c.readAhead < 0:
		return fmt.Errorf("-read-ahead %d: give 0 (off) or a number of bytes", c.readAhead)
	}
	return c.planning.check()
}

// startHub starts an in-process hub of c.partitions partitions with its
// logs in dir.
func startHub(ctx context.Context, c config, dir string) (*localhub.Hub, error) {
	return localhub.Start(ctx, &localhub.Config{DataDir: dir, Hub: "bench", Partitions: c.partitions,
		Logger: slog.New(slog.DiscardHandler)})
}

// readers are the peers, in the order a run takes them.
var readers = []string{"bare", "Processor", "stream"}

// results are each reader's measures, one per run: events/s by the clock
// (rate), and the CPU time the process took per event, in microseconds
// (cpu). The emulator runs in this process, so its work counts too; on a
// machine others share, the CPU varies far less than the clock.
type results struct {
	rate, cpu map[string][]float64
}

// run fills a hub with c.events events, then reads them c.runs times with
// each reader and returns their measures.
func run(ctx context.Context, c config) (*results, error) {
	dir, err := os.MkdirTemp("", "peerbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	hub, err := startHub(ctx, c, dir)
	if err != nil {
		return nil, err
	}
	defer hub.Close()
	per := c.events / c.partitions
	fmt.Fprintf(os.Stderr, "filling %d events of %d bytes into %d partitions...\n", per*c.partitions, c.size, c.partitions)
	if err := localhub.Fill(ctx, hub.ConnectionString(), c.partitions, per, &localhub.FillOptions{Size: c.size}); err != nil {
		return nil, err
	}
	b := &bench{c: c, connStr: hub.ConnectionString(), dir: dir, perPartition: per}
	res := &results{rate: map[string][]float64{}, cpu: map[string][]float64{}}
	for r := range c.runs {
		// Each run starts with another reader, so that a burst of other
		// work on the machine does not always fall on the same one.
		for i := range readers {
			if err := res.measure(ctx, b, r, readers[(r+i)%len(readers)]); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// measure reads the hub once with reader name, in run r, and keeps its
// measures.
func (res *results) measure(ctx context.Context, b *bench, r int, name string) error {
	wall, cpu := time.Now(), benchstat.CPUTime()
	n, err := b.read(ctx, name)
	if err != nil {
		return fmt.Errorf("run %d, %s: %w", r+1, name, err)
	}
	rate := float64(n) / time.Since(wall).Seconds()
	perEvent := float64((benchstat.CPUTime() - cpu).Microseconds()) / float64(max(n, 1))
	res.rate[name] = append(res.rate[name], rate)
	res.cpu[name] = append(res.cpu[name], perEvent)
	fmt.Fprintf(os.Stderr, "run %d: %s: %d events, %.0f events/s, %.2f CPU µs/event\n", r+1, name, n, rate, perEvent)
	return nil
}

// report prints the medians and the ratios of the stream to its peers: by
// the clock, and by the CPU per event (cpuRatio, the peer's over the
// stream's: above 1 the stream takes less).
func (res *results) report(w io.Writer) {
	rate, cpu := map[string]float64{}, map[string]float64{}
	fmt.Fprintf(w, "%-10s %10s %14s   %s\n", "reader", "events/s", "CPU µs/event", "runs (events/s)")
	for _, name := range readers {
		rate[name], cpu[name] = benchstat.Median(res.rate[name]), benchstat.Median(res.cpu[name])
		fmt.Fprintf(w, "%-10s %10.0f %14.2f   %s\n", name, rate[name], cpu[name], benchstat.Runs(res.rate[name]))
	}
	for _, peer := range []string{"Processor", "bare"} {
		fmt.Fprintf(w, "stream / %-10s %.2f (cpuRatio %.2f)\n", peer+":", rate["stream"]/rate[peer], cpu[peer]/cpu["stream"])
	}
}
