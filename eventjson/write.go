package eventjson

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/ehstream/ehstream/eventhubs"
)

// WriteOptions are WriteRDD's options; nil is every default.
type WriteOptions struct {
	// Append is how each line is written; nil: Append's defaults.
	Append *AppendOptions

	// Progress, if not nil, is told how many more events were written:
	// every 1,000 events of a partition and at the partition's end. It is
	// called from the partitions' goroutines at once. Default: nil.
	Progress func(events int)
}

// WriteRDD writes rdd's events to w as JSON lines (Append), a partition's
// in order and the partitions' interleaved a line at a time, reading the
// partitions in parallel (RDD.ForeachPartition). w is written through a
// buffer of 256 KiB, flushed before WriteRDD returns, whatever the error.
// An event Append cannot write ends the write with an error naming the
// event and wrapping Append's (ErrBodyNotJSON).
func WriteRDD(ctx context.Context, rdd *eventhubs.RDD, w io.Writer, opts *WriteOptions) error {
	if opts == nil {
		opts = &WriteOptions{}
	}
	lw := &lockedWriter{w: bufio.NewWriterSize(w, 256<<10)}
	err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		return writePartition(p, lw, opts)
	})
	if ferr := lw.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// lockedWriter takes one line at a time from the partition goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// writePartition writes p's events to w, a line each, telling
// opts.Progress.
func writePartition(p *eventhubs.Partition, w io.Writer, opts *WriteOptions) error {
	var buf []byte
	written := 0 // not yet told to opts.Progress
	progress := func() {
		if opts.Progress != nil && written > 0 {
			opts.Progress(written)
		}
		written = 0
	}
	defer progress()
	for ev, err := range p.Events() {
		if err != nil {
			return err
		}
		if written++; written == 1000 {
			progress()
		}
		buf, err = Append(buf[:0], ev, opts.Append)
		if err != nil {
			return fmt.Errorf("event %d of partition %s: %w", ev.SequenceNumber, ev.PartitionID, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
