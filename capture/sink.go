package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// Defaults of SinkOptions.
const (
	// DefaultRollSize is Event Hubs Capture's default size window, 300 MB.
	DefaultRollSize = 300 << 20
	// DefaultRollInterval is Capture's default time window.
	DefaultRollInterval = 5 * time.Minute
)

// SinkOptions holds NewSink's optional settings; nil means defaults.
type SinkOptions struct {
	// RollSize finishes a partition's file once it holds this many bytes
	// or more (the format's Size), even within a batch. 0 means
	// DefaultRollSize.
	RollSize int64
	// RollInterval finishes a partition's file at the end of the first
	// batch that finds it begun this long ago or longer. 0 means
	// DefaultRollInterval. With streaming.ContextOptions.SkipEmptyBatches
	// an idle stream runs no batch, and its open files wait for the next
	// event.
	RollInterval time.Duration
	// Logger gets a record for each finished file (its path, events and
	// bytes), each leftover removed, and each gap. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Sink writes a direct stream's events into files, exactly once, with no
// database: each partition's events go into its open file, which becomes
// visible (Destination) when it reaches RollSize or RollInterval, or when
// the sink closes. A visible file's name holds its partition and the range
// of sequence numbers it holds (FileName), so the visible files are the
// record of what was written, made in the one atomic step that shows a
// file (a rename, a block list's commit): Resume starts each partition
// where its last file ends, and the events of an open file that a crash
// lost are read again into a file of the same first name.
//
// The stream must have no checkpoint: a checkpoint marks a batch done
// once the sink returns, while its events wait in an open file, and a
// restart from it would lose them. Attach refuses a stream whose context
// has one. It refuses replicas (SetOwnershipStore) too: a replica that
// lost a partition while paused cannot be kept from finishing its file
// late, and two replicas would then write overlapping files.
//
//	sk, _ := capture.NewSink(dest, format, nil)
//	sk.Resume(ctx, conf)         // before the stream is made of conf
//	ds, _ := eventhubs.CreateDirectStream(ssc, conf)
//	sk.Attach(ds)
//	err := ssc.RunUntilSignal(ctx)
//	sk.Close(ctx)                // finishes the open files
type Sink struct {
	dest   Destination
	format Format
	opts   SinkOptions

	namespace, hub string // the paths' spelling, set by Resume
	ds             *eventhubs.DirectStream

	mu    sync.Mutex
	parts map[string]*partitionWriter
}

// NewSink is a sink of files of format into dest.
func NewSink(dest Destination, format Format, opts *SinkOptions) (*Sink, error) {
	if dest == nil || format == nil {
		return nil, errors.New("capture: NewSink needs a destination (NewDir, NewBlob) and a format")
	}
	o := SinkOptions{}
	if opts != nil {
		o = *opts
	}
	if o.RollSize < 0 || o.RollInterval < 0 {
		return nil, fmt.Errorf("capture: roll size %d bytes and roll interval %s: want 0 (the default) or more", o.RollSize, o.RollInterval)
	}
	if o.RollSize == 0 {
		o.RollSize = DefaultRollSize
	}
	if o.RollInterval == 0 {
		o.RollInterval = DefaultRollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Sink{dest: dest, format: format, opts: o, parts: map[string]*partitionWriter{}}, nil
}

// Attach makes the sink ds's output (ForeachRDD) and where ds reads
// positions anew (SetStoredPositions): the ends of the visible files.
// Call it after Resume, with a stream of the conf Resume was given.
func (s *Sink) Attach(ds *eventhubs.DirectStream) error {
	if s.hub == "" {
		return errors.New("capture: Attach before Resume: call Resume(ctx, conf) before the stream is made of conf")
	}
	if !strings.EqualFold(ds.Conf().EventHubName(), s.hub) {
		return fmt.Errorf("capture: Attach: the stream reads hub %s, Resume was given hub %s", ds.Conf().EventHubName(), s.hub)
	}
	if err := refuseStream(ds); err != nil {
		return err
	}
	s.ds = ds
	ds.ForeachRDD(s.WriteBatch)
	ds.SetStoredPositions(s.storedPositions)
	return nil
}

// refuseStream refuses what would break exactly once: a checkpoint, or
// replicas.
func refuseStream(ds *eventhubs.DirectStream) error {
	if ds.OwnerID() != "" {
		return errors.New("capture: the file sink cannot share partitions with replicas (SetOwnershipStore): " +
			"a replica that lost a partition while paused could still finish its file late, and nothing fences a rename or a block list's commit, " +
			"so two replicas would write overlapping files; run one instance per hub and destination")
	}
	if ds.Context().HasCheckpoint() {
		return errors.New("capture: the file sink's stream must have no checkpoint (Context.Checkpoint): " +
			"a checkpoint marks a batch done while its events wait in an unfinished file, and a restart from it would lose them; " +
			"the visible files are the sink's positions (Resume)")
	}
	return nil
}

// storedPositions is where the partitions' visible files end.
func (s *Sink) storedPositions(_ context.Context, ids []string) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, id := range ids {
		if p, ok := s.parts[id]; ok && p.visible >= 0 {
			out[id] = p.visible
		}
	}
	return out, nil
}

// WriteBatch appends each partition's events of rdd to its open file,
// in parallel, finishing files as they reach RollSize, and those begun
// RollInterval ago at the end.
func (s *Sink) WriteBatch(ctx context.Context, rdd *eventhubs.RDD) error {
	if s.hub == "" {
		return errors.New("capture: WriteBatch before Resume: call Resume(ctx, conf) before the stream runs")
	}
	if s.ds != nil {
		if err := refuseStream(s.ds); err != nil {
			return err
		}
	}
	return rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		w := s.partition(p.Range().PartitionID)
		if err := w.writeRange(ctx, p); err != nil {
			return err
		}
		return w.rollByAge(ctx)
	})
}

// partition is the writer of partition id, made on first use.
func (s *Sink) partition(id string) *partitionWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.parts[id]
	if !ok {
		w = &partitionWriter{s: s, id: id, visible: -1, end: -1, pos: -1}
		s.parts[id] = w
	}
	return w
}

// Close finishes every open file: call it once the stream stopped. A file
// whose writing failed is dropped; its events are read again at the next
// start.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	parts := slices.Collect(maps.Values(s.parts))
	s.mu.Unlock()
	var errs []error
	for _, w := range parts {
		if err := w.finish(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
