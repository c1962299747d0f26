package capture

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
	"golang.org/x/sync/errgroup"
)

// Resumed says where Resume found the hub's partitions.
type Resumed struct {
	// Positions is where each partition goes on from: its last file's
	// end, else its start marker's sequence number (_start), else the
	// conf's starting position resolved now, and recorded in a marker.
	Positions map[string]int64
	// Recorded counts the partitions whose start Resume resolved and
	// recorded: those that had neither a file nor a marker.
	Recorded int
	// Removed counts the unfinished files of a crashed run removed.
	Removed int
}

// resumeLookups is how many partitions Resume looks at together.
const resumeLookups = 8

// partitionStart is what Resume found of one partition: its last visible
// file ("" when none), its start marker's sequence number (-1 when none),
// and how many leftovers it removed.
type partitionStart struct {
	last    string
	marker  int64
	removed int
}

// Resume readies the sink for the hub conf reaches, before the stream is
// made of conf: it removes the partitions' unfinished files (a crashed
// run's), finds each partition's last visible file, and makes conf start
// each partition where that file ends. A partition with no file starts at
// its start marker (start.go); with no marker either, at the conf's own
// starting position (StartingPositions, else StartingPosition), resolved
// to a sequence number now and recorded in a marker before any file is
// written, so that a restart after a crash goes on from the same start.
//
// Paths spell the namespace's host and the hub in lower case, as Event
// Hubs compares them, so that a run that spells them otherwise goes on
// from the same files.
func (s *Sink) Resume(ctx context.Context, conf *eventhubs.Conf) (Resumed, error) {
	host, err := conf.NamespaceHost()
	if err != nil {
		return Resumed{}, err
	}
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		return Resumed{}, err
	}
	s.namespace, s.hub = strings.ToLower(host), strings.ToLower(conf.EventHubName())
	found := make([]partitionStart, len(hp.PartitionIDs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resumeLookups)
	for i, id := range hp.PartitionIDs {
		g.Go(func() (err error) {
			found[i], err = s.lastOf(gctx, id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Resumed{}, err
	}
	return s.startFrom(ctx, conf, hp.PartitionIDs, found)
}

// lastOf removes partition id's unfinished files and finds its last
// visible one, or its start marker.
func (s *Sink) lastOf(ctx context.Context, id string) (ps partitionStart, err error) {
	dir := PartitionDir(s.namespace, s.hub, id)
	ps.marker = -1
	if ps.removed, err = s.dest.RemoveLeftovers(ctx, dir); err != nil {
		return ps, err
	}
	if ps.removed > 0 {
		s.opts.Logger.Info("capture: removed the unfinished files of a run that stopped without finishing them; their events are read again",
			"destination", s.dest.String(), "partition", id, "files", ps.removed)
	}
	if ps.last, err = s.dest.Last(ctx, dir); err != nil || ps.last != "" {
		return ps, err
	}
	ps.marker, err = s.startOf(ctx, dir)
	return ps, err
}

// startFrom sets conf's starting positions from the partitions' last
// files or markers, recording the start of those with neither, and the
// partitions' writers.
func (s *Sink) startFrom(ctx context.Context, conf *eventhubs.Conf, ids []string, found []partitionStart) (Resumed, error) {
	res := Resumed{Positions: map[string]int64{}}
	var unrecorded []string
	for i, id := range ids {
		res.Removed += found[i].removed
		switch {
		case found[i].last != "":
			name, err := ParseFileName(found[i].last)
			if err != nil {
				return Resumed{}, fmt.Errorf("capture: %s: the last file of partition %s: %w", s.dest, id, err)
			}
			res.Positions[id] = name.Until
		case found[i].marker >= 0:
			res.Positions[id] = found[i].marker
		default:
			unrecorded = append(unrecorded, id)
		}
	}
	if len(unrecorded) > 0 {
		recorded, err := s.recordStarts(ctx, conf, unrecorded)
		if err != nil {
			return Resumed{}, err
		}
		maps.Copy(res.Positions, recorded)
		res.Recorded = len(recorded)
	}
	positions := map[string]eventhubs.EventPosition{}
	for id, seq := range res.Positions {
		positions[id] = eventhubs.FromSequenceNumber(seq, true)
		w := s.partition(id)
		w.visible, w.end, w.pos = seq, seq, seq
	}
	conf.SetStartingPositions(positions)
	return res, nil
}
