package capture

import (
	"context"
	"fmt"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
	"golang.org/x/sync/errgroup"
)

// Resumed says where Resume found the hub's partitions.
type Resumed struct {
	// Positions is where each partition with a visible file goes on
	// from: its last file's end.
	Positions map[string]int64
	// Removed counts the unfinished files of a crashed run removed.
	Removed int
}

// resumeLookups is how many partitions Resume looks at together.
const resumeLookups = 8

// Resume readies the sink for the hub conf reaches, before the stream is
// made of conf: it removes the partitions' unfinished files (a crashed
// run's), finds each partition's last visible file, and makes conf start
// each partition where that file ends, or, with no file, at the conf's own
// starting position (StartingPositions, else StartingPosition).
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
	lasts := make([]string, len(hp.PartitionIDs))
	removed := make([]int, len(hp.PartitionIDs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resumeLookups)
	for i, id := range hp.PartitionIDs {
		g.Go(func() (err error) {
			lasts[i], removed[i], err = s.lastOf(gctx, id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Resumed{}, err
	}
	return s.startFrom(conf, hp.PartitionIDs, lasts, removed)
}

// lastOf removes partition id's unfinished files and finds its last
// visible one.
func (s *Sink) lastOf(ctx context.Context, id string) (last string, removed int, err error) {
	dir := PartitionDir(s.namespace, s.hub, id)
	if removed, err = s.dest.RemoveLeftovers(ctx, dir); err != nil {
		return "", 0, err
	}
	if removed > 0 {
		s.opts.Logger.Info("capture: removed the unfinished files of a run that stopped without finishing them; their events are read again",
			"destination", s.dest.String(), "partition", id, "files", removed)
	}
	last, err = s.dest.Last(ctx, dir)
	return last, removed, err
}

// startFrom sets conf's starting positions from the partitions' last
// files, and the partitions' writers.
func (s *Sink) startFrom(conf *eventhubs.Conf, ids, lasts []string, removed []int) (Resumed, error) {
	res := Resumed{Positions: map[string]int64{}}
	positions := map[string]eventhubs.EventPosition{}
	for i, id := range ids {
		res.Removed += removed[i]
		if lasts[i] == "" {
			positions[id] = conf.PositionFor(id)
			continue
		}
		name, err := ParseFileName(lasts[i])
		if err != nil {
			return Resumed{}, fmt.Errorf("capture: %s: the last file of partition %s: %w", s.dest, id, err)
		}
		res.Positions[id] = name.Until
		positions[id] = eventhubs.FromSequenceNumber(name.Until, true)
		w := s.partition(id)
		w.visible, w.end, w.pos = name.Until, name.Until, name.Until
	}
	conf.SetStartingPositions(positions)
	return res, nil
}
