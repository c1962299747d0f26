package eventhubs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// planBounds is what Plan plans from: the hub's properties and the bounds
// of partitions ids (all when nil). Without read-ahead it asks the
// service for each (describe); with it (SetReadAhead), a partition whose
// read-ahead reads from where the stream stands is bounded by what it
// received, and only the others are asked for, the hub's properties being
// read again every HubRefreshInterval.
func (s *DirectStream) planBounds(ctx context.Context, ids []string) (*HubProperties, error) {
	if s.conf.ReadAhead() <= 0 {
		return s.c.describe(ctx, s.conf, ids)
	}
	hub, err := s.hubProperties(ctx)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = hub.PartitionIDs
	}
	out := &HubProperties{Name: hub.Name, CreatedOn: hub.CreatedOn, PartitionIDs: hub.PartitionIDs, Partitions: make([]PartitionBounds, len(ids))}
	var ask []int
	for i, id := range ids {
		if !slices.Contains(hub.PartitionIDs, id) {
			return nil, &Error{Code: CodeInvalidRange, Hub: hub.Name, PartitionID: id,
				Message: fmt.Sprintf("no such partition: the hub has %v", hub.PartitionIDs)}
		}
		from, known := s.next[id]
		if a, ok := s.c.arrived(id); ok && known && a.at == from {
			out.Partitions[i] = a.bounds(id)
			continue
		}
		ask = append(ask, i)
	}
	err = parallel.Each(len(ask), func(k int) error {
		var err error
		i := ask[k]
		out.Partitions[i], err = s.c.partitionBounds(ctx, s.conf, ids[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hubProperties is the hub's properties without partition bounds, read
// again once HubRefreshInterval passed since the last time.
func (s *DirectStream) hubProperties(ctx context.Context) (*HubProperties, error) {
	if s.hub != nil && time.Since(s.hubAt) < s.conf.HubRefreshInterval() {
		return s.hub, nil
	}
	hp, err := s.c.describe(ctx, s.conf, []string{})
	if err != nil {
		return nil, err
	}
	s.hub, s.hubAt = hp, time.Now()
	return hp, nil
}

// lendAll lends the links of the stream's partitions to read-aheads
// (SetReadAhead), where they stand idle at the stream's positions.
func (s *DirectStream) lendAll() {
	if s.conf.ReadAhead() > 0 && s.c != nil {
		s.c.lend(s.conf, slices.Collect(maps.Keys(s.next)))
	}
}

// notReading is the idle partitions whose read-ahead does not check their
// links as it receives: those hold checks.
func (s *DirectStream) notReading(idle []PartitionBounds) []PartitionBounds {
	if s.conf.ReadAhead() <= 0 {
		return idle
	}
	return slices.DeleteFunc(idle, func(b PartitionBounds) bool { return s.c.reading(b.PartitionID) })
}
