package capture

import (
	"context"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// partitionWriter writes one partition's events; one batch task at a
// time uses it.
type partitionWriter struct {
	s  *Sink
	id string
	// visible is where the partition's last visible file ends, end where
	// its written events end (the open file's, else visible), pos where
	// the stream stands after the last range the sink took in: -1 while
	// unknown (no file yet).
	visible, end, pos int64
	open              *openFile
}

// openFile is a file begun and not finished.
type openFile struct {
	pending PendingFile
	fw      FileWriter
	name    FileName // Until is where its events end so far
	events  int64
	bytes   *countingWriter
	begun   time.Time
}

// writeRange appends the events of p's range. A range must start where
// the partition stands (or, retried, inside the range the sink took in):
// one that starts elsewhere was planned from other positions than the
// files' (a checkpoint), and writing it would leave a gap or a duplicate.
func (w *partitionWriter) writeRange(ctx context.Context, p *eventhubs.Partition) error {
	r := p.Range()
	if r.ResetFrom != 0 && (w.pos < 0 || r.ResetFrom == w.pos) { // not when a retry of the batch repeats it
		if err := w.restarted(ctx, r); err != nil {
			return err
		}
	}
	if w.pos < 0 { // the partition's first range: nothing written before it
		w.visible, w.end, w.pos = r.FromSeqNo, r.FromSeqNo, r.FromSeqNo
	}
	if r.FromSeqNo > w.pos {
		return &staleError{partition: w.id, err: fmt.Errorf("capture: partition %s: the batch reads from %d, but the partition's files end at %d: "+
			"the stream was started from other positions than the files' (a checkpoint?), or a file was dropped; the batch is planned again from the files' end "+
			"(a stream with no checkpoint, started after Sink.Resume and Attach, does this by itself)", w.id, r.FromSeqNo, w.pos)}
	}
	for ev, err := range p.Events() {
		if err != nil {
			return err
		}
		if w.end >= 0 && ev.SequenceNumber < w.end {
			continue // written by an earlier attempt of this batch
		}
		if err := w.write(ctx, ev); err != nil {
			return err
		}
	}
	w.pos = max(w.pos, r.UntilSeqNo)
	return nil
}

// restarted handles a range that resets the partition's numbering (the
// hub was created again): the open file, of the old numbering, is
// finished, and the new numbering's files start afresh.
func (w *partitionWriter) restarted(ctx context.Context, r eventhubs.OffsetRange) error {
	if err := w.finish(ctx); err != nil {
		return err
	}
	w.s.opts.Logger.Warn("capture: the partition's sequence numbers restarted (the hub was created again): its next files start at the new numbering",
		"hub", w.s.hub, "partition", w.id, "files_end", w.end, "from", r.FromSeqNo)
	w.visible, w.end, w.pos = r.FromSeqNo, r.FromSeqNo, r.FromSeqNo
	return nil
}

// write appends ev to the open file, beginning one if needed, and
// finishes the file once it reaches RollSize. An event after a gap (events
// lost to retention) finishes the open file first: a file holds every
// event of its range, and the gap shows between the files' names.
func (w *partitionWriter) write(ctx context.Context, ev *eventhubs.Event) error {
	if w.end >= 0 && ev.SequenceNumber > w.end {
		w.s.opts.Logger.Warn("capture: events lost (retention) before the stream read them: the files have a gap",
			"hub", w.s.hub, "partition", w.id, "gap_from", w.end, "gap_until", ev.SequenceNumber)
		if err := w.finish(ctx); err != nil {
			return err
		}
	}
	if w.open == nil {
		if err := w.begin(ctx, ev); err != nil {
			return err
		}
	}
	f := w.open
	if err := f.fw.Write(ev); err != nil {
		w.abandon()
		return fmt.Errorf("capture: writing event %d into partition %s's file from %d in %s: %w (the file is dropped; its events are read again when the batch is retried or the stream restarts)",
			ev.SequenceNumber, w.id, f.name.From, w.s.dest, err)
	}
	f.events++
	f.name.Until, w.end = ev.SequenceNumber+1, ev.SequenceNumber+1
	if f.fw.Size() >= w.s.opts.RollSize {
		return w.finish(ctx)
	}
	return nil
}

// begin starts a file whose first event is ev.
func (w *partitionWriter) begin(ctx context.Context, ev *eventhubs.Event) error {
	s := w.s
	name := FileName{Namespace: s.namespace, EventHub: s.hub, PartitionID: w.id, First: ev.EnqueuedTime,
		From: ev.SequenceNumber, Until: ev.SequenceNumber, Ext: s.format.Ext()}
	pending, err := s.dest.Begin(ctx, PartitionDir(s.namespace, s.hub, w.id))
	if err != nil {
		return err
	}
	bytes := &countingWriter{w: pending}
	fw, err := s.format.NewFileWriter(bytes, FileInfo{Namespace: s.namespace, EventHub: s.hub, PartitionID: w.id})
	if err != nil {
		pending.Abandon()
		return fmt.Errorf("capture: beginning partition %s's %s file from %d in %s: %w", w.id, s.format.Name(), name.From, s.dest, err)
	}
	w.open = &openFile{pending: pending, fw: fw, name: name, bytes: bytes, begun: time.Now()}
	return nil
}

// rollByAge finishes the open file if it was begun RollInterval ago.
func (w *partitionWriter) rollByAge(ctx context.Context) error {
	if w.open == nil || time.Since(w.open.begun) < w.s.opts.RollInterval {
		return nil
	}
	return w.finish(ctx)
}

// finish ends the open file and makes it visible under its name.
func (w *partitionWriter) finish(ctx context.Context) error {
	f := w.open
	if f == nil {
		return nil
	}
	w.open = nil
	err := f.fw.Close()
	if err != nil {
		err = fmt.Errorf("capture: ending %s in %s: %w", f.name.Path(), w.s.dest, err)
	} else {
		err = f.pending.Finish(ctx, f.name.Path())
	}
	if err != nil {
		f.pending.Abandon()
		w.end, w.pos = w.visible, w.visible
		return fmt.Errorf("%w (the file is dropped; its events are read again when the batch is retried or the stream restarts)", err)
	}
	w.visible = f.name.Until
	w.s.opts.Logger.Info("capture: finished a file", "file", f.name.Path(), "events", f.events, "bytes", f.bytes.n)
	return nil
}

// abandon drops the open file: what it held is read again at the next
// start.
func (w *partitionWriter) abandon() {
	if w.open != nil {
		w.open.pending.Abandon()
		w.open, w.end, w.pos = nil, w.visible, w.visible
	}
}

// staleError says that the stream must read a partition again from where
// its visible files end: a range started past the files' end (a file was
// dropped, and the batch retried; a checkpoint's positions). It is an
// eventhubs.StaleRange: the stream, whose stored positions are the files'
// ends (Attach), plans the batch again from there instead of failing. A
// dropped file itself fails the batch, so that a fault that stays (a full
// disk) stops the stream rather than replanning it forever.
type staleError struct {
	partition string
	err       error
}

func (e *staleError) Error() string          { return e.err.Error() }
func (e *staleError) Unwrap() error          { return e.err }
func (e *staleError) StalePartition() string { return e.partition }

var _ eventhubs.StaleRange = (*staleError)(nil)
