package capture

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
	"golang.org/x/sync/errgroup"
)

// startDir holds, in a partition's directory, the start marker: an empty
// file whose name is the sequence number the partition's files start at,
// {PartitionId}/_start/from-{SequenceNumber}. Resume writes it, the way
// files are made visible, before the partition's first file can be
// written, so that the start the conf's position resolved to (latest, an
// enqueued time, an offset) is resolved once for good: a restart of a
// partition with no visible file yet goes on from the marker, not from
// latest anew, which would skip the events a crash left in an unfinished
// file. Its '_' keeps it out of readers' globs and of List, as _tmp.
const startDir = "_start"

const startPrefix = "from-"

// startPath is the path of the marker of the partition whose directory is
// dir, recording seq.
func startPath(dir string, seq int64) string {
	return path.Join(dir, startDir, fmt.Sprintf("%s%020d", startPrefix, seq))
}

// startOf is the sequence number the marker of the partition whose
// directory is dir records; -1 with no marker. Of several (a marker
// written by hand), the largest.
func (s *Sink) startOf(ctx context.Context, dir string) (int64, error) {
	paths, err := s.dest.List(ctx, path.Join(dir, startDir))
	if err != nil {
		return -1, err
	}
	start := int64(-1)
	for _, p := range paths {
		digits, ok := strings.CutPrefix(path.Base(p), startPrefix)
		seq, err := strconv.ParseInt(digits, 10, 64)
		if !ok || err != nil || seq < 0 {
			return -1, fmt.Errorf("capture: %s: %s is not a start marker (%s{SequenceNumber}): remove it", s.dest, p, startPrefix)
		}
		start = max(start, seq)
	}
	return start, nil
}

// recordStarts resolves the conf's starting position of each partition of
// ids (they have neither a file nor a marker) to a sequence number, and
// records it in the partition's marker.
func (s *Sink) recordStarts(ctx context.Context, conf *eventhubs.Conf, ids []string) (map[string]int64, error) {
	positions := map[string]eventhubs.EventPosition{}
	for _, id := range ids {
		positions[id] = conf.PositionFor(id)
	}
	seqs, err := eventhubs.ResolvePositions(ctx, conf, positions)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resumeLookups)
	for _, id := range ids {
		g.Go(func() error { return s.writeStart(gctx, PartitionDir(s.namespace, s.hub, id), seqs[id]) })
	}
	return seqs, g.Wait()
}

// writeStart makes the marker recording seq visible, durably, as a file.
func (s *Sink) writeStart(ctx context.Context, dir string, seq int64) error {
	f, err := s.dest.Begin(ctx, dir)
	if err != nil {
		return err
	}
	if err := f.Finish(ctx, startPath(dir, seq)); err != nil {
		return fmt.Errorf("capture: recording where partition %s starts: %w", path.Base(dir), err)
	}
	return nil
}
