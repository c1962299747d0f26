package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// sinkConfig is what the flags of -sink-format say.
type sinkConfig struct {
	list    string
	formats []string // avro, parquet: from list
	dir     string
}

func (c *sinkConfig) flags() {
	flag.StringVar(&c.list, "sink-format", "", "then read the backlog again once per format into files with capture's exactly-once sink, "+
		"a comma-separated list of parquet and avro")
	flag.StringVar(&c.dir, "sink-dir", "", "with -sink-format: where the files' temporary directory is made (default the system's, $TMPDIR or /tmp)")
}

// check says which flag is wrong and what it takes, and fills formats.
func (c *sinkConfig) check() error {
	if c.dir != "" {
		if st, err := os.Stat(c.dir); err != nil || !st.IsDir() {
			return fmt.Errorf("-sink-dir %q is not a directory: give an existing directory, or none for the system's temporary one", c.dir)
		}
	}
	var err error
	c.formats, err = listFlag("-sink-format", c.list, "parquet", "avro")
	return err
}

// newFormat is capture's format of that name, with its defaults.
func newFormat(name string) (capture.Format, error) {
	if name == "avro" {
		return capture.Avro(nil)
	}
	return capture.Parquet(nil)
}

// runFileSink reads the backlog again with capture's sink writing files of
// format name into a new temporary directory, then checks that the files
// hold every event once and prints the rate against the plain stream's
// (direct), the bytes on disk per event and the peak RSS. Finishing the
// open files (Sink.Close) counts in the phase's time.
func runFileSink(ctx context.Context, connStr string, want int64, c config, name string, direct phase) error {
	root, err := os.MkdirTemp(c.sink.dir, "streambench-"+name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	sink, conf, err := newBenchSink(root, name, connStr, c.rate)
	if err != nil {
		return err
	}
	if _, err := sink.Resume(ctx, conf); err != nil {
		return err
	}
	ssc, err := streaming.NewContext(c.interval, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return err
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return err
	}
	if err := sink.Attach(ds); err != nil {
		return err
	}
	// The heap the phases before left is given back, so that the peak is
	// this phase's own.
	debug.FreeOSMemory()
	resetPeakRSS()
	var got, batches atomic.Int64
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		batches.Add(1)
		if got.Add(b.Events) >= want {
			ssc.Stop(true)
		}
	}))
	end := startPhase()
	err = ssc.Run(ctx)
	if cerr := sink.Close(ctx); err == nil {
		err = cerr
	}
	ph := end(got.Load())
	if err != nil {
		return err
	}
	files, bytes, err := checkSinkFiles(ctx, root, conf)
	if err != nil {
		return err
	}
	fmt.Printf("sink (%s, file): batches=%d files=%d bytes/event=%.1f %s %s checked=each event once peakRSS=%s\n",
		name, batches.Load(), files, float64(bytes)/float64(max(ph.events, 1)), ph, ph.against(direct), peakRSS())
	return nil
}

// newBenchSink is a sink of files of format name into root, its files
// rolled at the defaults (300 MB, 5 minutes), and the conf of its stream.
func newBenchSink(root, name, connStr string, rate int64) (*capture.Sink, *eventhubs.Conf, error) {
	dest, err := capture.NewDir(root)
	if err != nil {
		return nil, nil, err
	}
	format, err := newFormat(name)
	if err != nil {
		return nil, nil, err
	}
	sink, err := capture.NewSink(dest, format, &capture.SinkOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	return sink, eventhubs.NewConf(connStr).SetMaxRatePerPartition(rate), nil
}

// checkSinkFiles checks that the visible files under root hold each of
// the hub's events once: capture.CheckFiles finds, for every partition
// of the hub, files that cover what the hub holds of it ([First, End), as
// eventhubs.DescribeHub says), with no gap and no overlap, and nothing
// else there. It says how many files there are and their bytes.
func checkSinkFiles(ctx context.Context, root string, conf *eventhubs.Conf) (files int, bytes int64, err error) {
	hub, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		return 0, 0, err
	}
	dest, err := capture.NewDir(root)
	if err != nil {
		return 0, 0, err
	}
	host, err := conf.NamespaceHost()
	if err != nil {
		return 0, 0, err
	}
	hf, err := capture.CheckFiles(ctx, dest, host, conf.EventHubName())
	if err != nil {
		return 0, 0, err
	}
	if len(hf.Partitions) != len(hub.Partitions) || len(hf.Strays) > 0 {
		return 0, 0, fmt.Errorf("sink: files of %d partitions and %d strays (%v), want the hub's %d partitions and none", len(hf.Partitions), len(hf.Strays), hf.Strays, len(hub.Partitions))
	}
	byID := map[string]capture.PartitionFiles{}
	for _, p := range hf.Partitions {
		byID[p.PartitionID] = p
	}
	for _, b := range hub.Partitions {
		p := byID[b.PartitionID]
		from, until := p.Ends()
		if from != b.First || until != b.End || len(p.Gaps) > 0 || len(p.Overlaps) > 0 || p.Events != b.End-b.First {
			return 0, 0, fmt.Errorf("sink: partition %s's files cover [%d, %d), %d events, gaps %v, overlaps %v; the hub holds [%d, %d), want it once",
				b.PartitionID, from, until, p.Events, p.Gaps, p.Overlaps, b.First, b.End)
		}
		files += len(p.Files)
	}
	bytes, err = dirBytes(root)
	return files, bytes, err
}

// dirBytes is the bytes of the files under root.
func dirBytes(root string) (bytes int64, err error) {
	err = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			bytes += info.Size()
		}
		return err
	})
	return bytes, err
}
