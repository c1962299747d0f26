// Command streambench measures a direct stream over a backlog: events/s and
// the stream process's peak resident memory (VmHWM), to show that memory is
// bounded by the rate, prefetch and read-ahead (-read-ahead, the stream's
// default of 1 MiB per partition; 0 turns it off), not by the backlog. The
// local Event Hubs runs in a child process (this program with -serve), so
// its memory is not counted.
//
//	go run ./cmd/streambench -events 500000
//	go run ./cmd/streambench -events 2000000
//	go run ./cmd/streambench -events 2000000 -window       # also ReduceByKeyAndWindow, same backlog, same run
//	go run ./cmd/streambench -events 2000000 -event-time   # also a 1 minute event-time window, same backlog, same run
//	go run ./cmd/streambench -events 2000000 -event-time -state-store dir,sqlite,postgres # and state per partition in SQLite and PostgreSQL
//	go run ./cmd/streambench -events 2000000 -sink-format parquet,avro # also into files, exactly once, each format
//	go run ./cmd/streambench -events 2000000 -cli-sink sqlite,postgres # also ehstream stream itself into each database
//
// With -window the same backlog is then read again by a typed pipeline:
// ReduceByKeyAndWindow over -keys keys, a window of -window-batches batches
// sliding every batch, with its state checkpointed to a temporary
// directory; it reports the pipeline's events/s against the plain
// stream's, the checkpoint bytes written per batch and its own peak RSS
// (the peak is reset between the two).
//
// With -event-time the backlog is read again by
// ReduceByKeyAndEventTimeWindow: -keys keys, tumbling windows of
// -event-window, in -event-mode (append by default), the event time taken
// from each body (-event-source body: the hub is filled with bodies that
// begin with their event time, spread evenly over -event-span per
// partition, so that windows close and their state is dropped as the
// backlog is read) or the enqueued time. Its state is kept where
// -state-store says; it reports the same measures as -window, and the
// windows emitted and the late items.
//
// -state-store lists where state is kept: dir (the -event-time window's,
// checkpointed to a temporary directory; the default), sqlite (a new
// database file) and postgres (new tables in the database of -postgres,
// default $EHSTREAM_TEST_POSTGRES, dropped at the end). For each
// database the backlog is read again by a running count per key
// (MapWithState) over -state-keys keys in all (each partition has its
// own, -state-keys / -partitions of them), its state kept per partition
// in the database (streaming.KeepStatePerPartition) and committed by an
// output that writes nothing else (offsets.Store.CommitBatch), so that
// what it costs is the state's; with -event-time the event-time window
// then keeps its state there too. Each reports its rate against the plain
// stream's, per batch the state's bytes (median, max; whole and changes
// records) and the time of CommitBatch and of the batch (median, p95),
// the running counts read back from the database (which must add up to
// the events read), the state table's size and the peak RSS.
//
// -sink-format lists file formats (parquet, avro): for each, the backlog
// is read again by capture's exactly-once file sink, with the format's
// defaults, into a new temporary directory (under -sink-dir) that is
// removed at the end. It reports the rate against the plain stream's, the
// files written and their bytes per event, and the peak RSS, after
// checking with capture.CheckFiles that the files hold each event once:
// every partition's files cover its whole backlog, with no gap and no
// overlap.
//
// -cli-sink lists databases (sqlite: a new file; postgres: a new table in
// the database of -postgres, dropped at the end): for each, the backlog is
// read again by the ehstream command itself, built from this module and
// run as users run it (ehstream stream --until-idle, JSON logs), against
// the same child hub. It reports the rate against the plain stream's over
// the whole process (start-up, the last idle batch and the exit included)
// and over its batches that read events, and the process's CPU per event.
//
// Files: main.go (flags, the plain stream and the child hub), pipeline.go
// (what the typed pipelines share: the Context, its counted checkpoint
// store, the run to the end of the backlog), window.go (the pipeline of
// -window), eventtime.go (the pipeline of -event-time and the bodies'
// event times), statestore.go (-state-store: the databases, keeping a
// pipeline's state per partition in one and measuring its commits),
// statecount.go (the running counts and reading them back), filesink.go
// (-sink-format: the file sink's phases and the check of their files),
// clisink.go (-cli-sink: the ehstream command into a database).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/countstream"
	"github.com/ehstream/ehstream/internal/localhub"
)

// config is what the flags say.
type config struct {
	events, partitions, size int
	pad                      string
	rate, readAhead          int64
	interval                 time.Duration
	window                   bool
	keys, windowBatches      int
	eventTime                eventTimeConfig
	state                    stateConfig
	sink                     sinkConfig
	cli                      cliConfig
	cpuProfile               string
}

func main() {
	var c config
	flag.IntVar(&c.events, "events", 500_000, "backlog size, spread evenly over the partitions")
	flag.IntVar(&c.partitions, "partitions", 8, "partitions of the hub")
	flag.IntVar(&c.size, "size", 100, "event body size in bytes")
	flag.StringVar(&c.pad, "body-pad", "x", "what fills each body after its event time: x (compresses to nothing) or hex (random hex digits)")
	flag.Int64Var(&c.rate, "max-rate-per-partition", 10_000, "the stream's rate per partition per batch")
	flag.DurationVar(&c.interval, "batch-interval", 100*time.Millisecond, "the stream's batch interval")
	flag.Int64Var(&c.readAhead, "read-ahead", eventhubs.DefaultReadAhead, "the plain stream's read-ahead in bytes per partition (0: off)")
	serve := flag.Bool("serve", false, "internal: run the local Event Hubs, fill it, print its connection string")
	flag.BoolVar(&c.window, "window", false, "then read the backlog again with ReduceByKeyAndWindow and compare")
	flag.IntVar(&c.keys, "keys", 1000, "with -window and -event-time: keys")
	flag.IntVar(&c.windowBatches, "window-batches", 10, "with -window: the window's length in batches")
	c.eventTime.flags()
	c.state.flags()
	c.sink.flags()
	c.cli.flags()
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write the stream process's CPU profile of all phases to this file (go tool pprof)")
	flag.Parse()
	err := c.eventTime.check()
	if err == nil && c.pad != "x" && c.pad != "hex" {
		err = fmt.Errorf("-body-pad %q: give x or hex", c.pad)
	}
	if err == nil {
		err = c.state.check()
	}
	if err == nil {
		err = c.sink.check()
	}
	if err == nil {
		err = c.cli.check(c.state.postgres)
	}
	if err == nil && c.readAhead < 0 {
		err = fmt.Errorf("-read-ahead %d: give 0 (off) or a number of bytes", c.readAhead)
	}
	if err == nil && *serve {
		err = runServer(c)
	} else if err == nil {
		err = runStream(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

func runServer(c config) error {
	ctx := context.Background()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "bench", Partitions: c.partitions})
	if err != nil {
		return err
	}
	defer hub.Close()
	perPartition := c.events / c.partitions
	opts := &localhub.FillOptions{Size: c.size, Body: timedBodies(c.size, perPartition, c.eventTime.span, c.pad)}
	if err := localhub.Fill(ctx, hub.ConnectionString(), c.partitions, perPartition, opts); err != nil {
		return err
	}
	// The fill's garbage is collected now, not while the parent measures.
	debug.FreeOSMemory()
	fmt.Println("READY", hub.ConnectionString())
	io.Copy(io.Discard, os.Stdin) // until the parent goes
	return nil
}

func runStream(c config) error {
	if slices.Contains(c.state.stores, "postgres") {
		// Before the fill, which takes a while for a large backlog.
		db, err := openPostgres(context.Background(), c.state.postgres)
		if err != nil {
			return err
		}
		db.Close()
	}
	child := exec.Command(os.Args[0], "-serve", "-events", strconv.Itoa(c.events), "-partitions", strconv.Itoa(c.partitions),
		"-size", strconv.Itoa(c.size), "-event-span", c.eventTime.span.String(), "-body-pad", c.pad)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "filling %d events of %d bytes into %d partitions...\n", c.events, c.size, c.partitions)
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); child.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	connStr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if err != nil || !ok {
		return fmt.Errorf("the local Event Hubs did not start: %q %v", line, err)
	}

	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	want := int64(c.events / c.partitions * c.partitions)
	end := startPhase()
	res, err := countstream.Run(context.Background(), eventhubs.NewConf(connStr).SetMaxRatePerPartition(c.rate).SetReadAhead(c.readAhead), c.interval, want)
	if err != nil {
		return err
	}
	direct := end(res.Events)
	fmt.Printf("batches=%d %s peakRSS=%s\n", res.Batches, direct, peakRSS())
	return runPipelines(connStr, want, c, direct)
}

// listFlag is the distinct items of a comma-separated flag value, each
// one of allowed; none for an empty value.
func listFlag(name, value string, allowed ...string) ([]string, error) {
	var out []string
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		switch {
		case !slices.Contains(allowed, s):
			choices := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
			return nil, fmt.Errorf("%s %q: give %s, or several of them separated by commas", name, s, choices)
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	return out, nil
}

// runPipelines reads the backlog again with each typed pipeline the flags
// ask for, comparing each with the plain stream (direct).
func runPipelines(connStr string, want int64, c config, direct phase) error {
	ctx := context.Background()
	if c.window {
		if err := runWindow(connStr, want, c, direct); err != nil {
			return err
		}
	}
	if c.eventTime.on && slices.Contains(c.state.stores, "dir") {
		if err := runEventTime(ctx, connStr, want, c, nil, direct); err != nil {
			return err
		}
	}
	for _, name := range c.state.databases() {
		if err := runInDatabase(ctx, connStr, want, c, name, direct); err != nil {
			return err
		}
	}
	for _, name := range c.sink.formats {
		if err := runFileSink(ctx, connStr, want, c, name, direct); err != nil {
			return err
		}
	}
	return runCLISinks(ctx, connStr, want, c, direct)
}

// runInDatabase runs the pipelines that keep their state per partition in
// database name: the running counts, and with -event-time the window.
func runInDatabase(ctx context.Context, connStr string, want int64, c config, name string, direct phase) error {
	db, err := openStateDB(ctx, name, c.state.postgres)
	if err != nil {
		return err
	}
	defer db.close()
	if err := runStateCounts(ctx, connStr, want, c, db, direct); err != nil {
		return err
	}
	if c.eventTime.on {
		return runEventTime(ctx, connStr, want, c, db, direct)
	}
	return nil
}

// startCPUProfile profiles the process into file until stop.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// resetPeakRSS resets the process's peak resident set, so that the one
// printed next is the phase's that follows.
func resetPeakRSS() {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		fmt.Fprintln(os.Stderr, "streambench: cannot reset the peak RSS:", err)
	}
}

// peakRSS is the process's peak resident set (Linux VmHWM).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.ReplaceAll(strings.TrimSpace(v), " ", "")
		}
	}
	return "n/a"
}
