package eventhubs

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// planBounds is what Plan plans from: the hub's properties and the bounds
// of partitions ids (all when nil). Without read-ahead it asks the
// service for each (describe); with it (SetReadAhead), a partition whose
// read-ahead reads from where the stream stands is bounded by what it
// received, or what the stream saw the partition hold before, and only
// the others are asked for (aheadBounds); so are, once every
// HubRefreshInterval, those whose read-ahead holds its bytes.
func (s *DirectStream) planBounds(ctx context.Context, ids []string) (*HubProperties, error) {
	if s.conf.ReadAhead() <= 0 {
		return s.c.describe(ctx, s.conf, ids)
	}
	hub, fresh, err := s.hubProperties(ctx, false)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = hub.PartitionIDs
	}
	filled := time.Since(s.filledAt) >= s.conf.HubRefreshInterval()
	if filled {
		s.filledAt = time.Now()
	}
	out, ask, err := s.aheadBounds(hub, ids, filled)
	if err != nil {
		return nil, err
	}
	if !fresh && len(ask) < len(ids) && s.planningEvents(out, ask) {
		// Before events are planned, a hub created again must show: the
		// SDK's receivers reconnect to it on their own, where the old
		// numbering's next sequence number may exist again.
		if hub, _, err = s.hubProperties(ctx, true); err != nil {
			return nil, err
		}
		if !hub.CreatedOn.Equal(out.CreatedOn) { // positions reset: bounds anew
			if out, ask, err = s.aheadBounds(hub, ids, filled); err != nil {
				return nil, err
			}
		}
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
	for _, b := range out.Partitions {
		s.known[b.PartitionID] = max(s.known[b.PartitionID], b.End)
	}
	return out, nil
}

// aheadBounds bounds the partitions ids whose read-aheads read from where
// the stream stands by what arrived, and by the end the stream saw before
// (events up to it exist, or retention removed them, which the read
// finds); ask is the indexes of the others, whose bounds the service
// gives. With filled, ask has too the partitions whose read-ahead stopped
// on its bound: what arrived past it (their lag, and the end a backlog's
// batches may plan to) shows only so.
func (s *DirectStream) aheadBounds(hub *HubProperties, ids []string, filled bool) (out *HubProperties, ask []int, err error) {
	if err := checkPartitionIDs(hub.Name, hub.PartitionIDs, ids); err != nil {
		return nil, nil, err
	}
	out = &HubProperties{Name: hub.Name, CreatedOn: hub.CreatedOn, PartitionIDs: hub.PartitionIDs, Partitions: make([]PartitionBounds, len(ids))}
	for i, id := range ids {
		from, known := s.next[id]
		a, ok := s.c.arrived(id)
		if !ok || !known || a.at != from || filled && a.filled {
			ask = append(ask, i)
			continue
		}
		b := a.bounds(id)
		if end := s.known[id]; end > b.End {
			b.End, b.LastOffset, b.LastEnqueued = end, "", time.Time{}
		}
		out.Partitions[i] = b
	}
	return out, ask, nil
}

// planningEvents says whether a partition bounded by its read-ahead (not
// among ask) has events past the stream's position.
func (s *DirectStream) planningEvents(hp *HubProperties, ask []int) bool {
	asked := make([]bool, len(hp.Partitions))
	for _, i := range ask {
		asked[i] = true
	}
	for i, b := range hp.Partitions {
		if !asked[i] && b.End > s.next[b.PartitionID] {
			return true
		}
	}
	return false
}

// hubProperties is the hub's properties without partition bounds, read
// again (fresh) when now, or once HubRefreshInterval passed since the
// last time. A hub created again since resets the stream's positions
// (checkCreated) before any bounds are taken.
func (s *DirectStream) hubProperties(ctx context.Context, now bool) (hp *HubProperties, fresh bool, err error) {
	if !now && s.hub != nil && time.Since(s.hubAt) < s.conf.HubRefreshInterval() {
		return s.hub, false, nil
	}
	if hp, err = s.c.describe(ctx, s.conf, []string{}); err != nil {
		return nil, false, err
	}
	s.hub, s.hubAt = hp, time.Now()
	return hp, true, s.checkCreated(hp)
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
