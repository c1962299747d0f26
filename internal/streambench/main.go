// Command streambench measures a direct stream over a backlog: events/s and
// the stream process's peak resident memory (VmHWM), to show that memory is
// bounded by the rate and prefetch, not by the backlog. The local Event
// Hubs runs in a child process (this program with -serve), so its memory is
// not counted.
//
//	go run ./internal/streambench -events 500000
//	go run ./internal/streambench -events 2000000
//	go run ./internal/streambench -events 2000000 -window   # also ReduceByKeyAndWindow, same backlog, same run
//
// With -window the same backlog is then read again by a typed pipeline:
// ReduceByKeyAndWindow over -keys keys, a window of -window-batches batches
// sliding every batch, with its state checkpointed to a temporary
// directory; it reports the pipeline's events/s against the plain
// stream's, the checkpoint bytes written per batch and its own peak RSS
// (the peak is reset between the two).
//
// Files: main.go (the plain stream and the child hub), window.go (the
// typed pipeline of -window).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/countstream"
	"github.com/ehstream/ehstream/internal/localhub"
)

func main() {
	events := flag.Int("events", 500_000, "backlog size, spread evenly over the partitions")
	partitions := flag.Int("partitions", 8, "partitions of the hub")
	size := flag.Int("size", 100, "event body size in bytes")
	rate := flag.Int64("max-rate-per-partition", 10_000, "the stream's rate per partition per batch")
	interval := flag.Duration("batch-interval", 100*time.Millisecond, "the stream's batch interval")
	serve := flag.Bool("serve", false, "internal: run the local Event Hubs, fill it, print its connection string")
	window := flag.Bool("window", false, "then read the backlog again with ReduceByKeyAndWindow and compare")
	keys := flag.Int("keys", 1000, "with -window: keys")
	windowBatches := flag.Int("window-batches", 10, "with -window: the window's length in batches")
	flag.Parse()
	var err error
	if *serve {
		err = runServer(*events, *partitions, *size)
	} else {
		err = runStream(*events, *partitions, *size, *rate, *interval, *window, *keys, *windowBatches)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

func runServer(events, partitions, size int) error {
	ctx := context.Background()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "bench", Partitions: partitions})
	if err != nil {
		return err
	}
	defer hub.Close()
	if err := localhub.Fill(ctx, hub.ConnectionString(), partitions, events/partitions, &localhub.FillOptions{Size: size}); err != nil {
		return err
	}
	fmt.Println("READY", hub.ConnectionString())
	io.Copy(io.Discard, os.Stdin) // until the parent goes
	return nil
}

func runStream(events, partitions, size int, rate int64, interval time.Duration, window bool, keys, windowBatches int) error {
	child := exec.Command(os.Args[0], "-serve", "-events", strconv.Itoa(events), "-partitions", strconv.Itoa(partitions), "-size", strconv.Itoa(size))
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "filling %d events of %d bytes into %d partitions...\n", events, size, partitions)
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); child.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	connStr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if err != nil || !ok {
		return fmt.Errorf("the local Event Hubs did not start: %q %v", line, err)
	}

	want := int64(events / partitions * partitions)
	start := time.Now()
	res, err := countstream.Run(context.Background(), eventhubs.NewConf(connStr).SetMaxRatePerPartition(rate), interval, want)
	if err != nil {
		return err
	}
	took := time.Since(start)
	direct := float64(res.Events) / took.Seconds()
	fmt.Printf("events=%d batches=%d seconds=%.2f events/s=%.0f peakRSS=%s\n",
		res.Events, res.Batches, took.Seconds(), direct, peakRSS())
	if !window {
		return nil
	}
	return runWindow(connStr, want, rate, interval, keys, windowBatches, direct)
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
