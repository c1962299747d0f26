package eventhubs

import (
	"context"
	"iter"

	"github.com/ehstream/ehstream/streaming"
)

// Events is the direct stream's events as a typed stream, for Spark's
// transformations (streaming.Map, ReduceByKeyAndWindow, MapWithState, ...).
// Each batch is read once per output that needs it, one task per
// partition, as ForeachRDD reads it; a batch's outputs see its offset
// ranges through BatchData.OffsetRanges (OffsetRangesOf makes them
// OffsetRanges). Every call returns the same stream.
func Events(ds *DirectStream) (streaming.DStream[*Event], error) {
	if ds.events == nil {
		src, err := streaming.NewSource[*Event](ds.ssc, ds)
		if err != nil {
			return streaming.DStream[*Event]{}, err
		}
		ds.events = src
		ds.ForeachRDD(func(ctx context.Context, rdd *RDD) error {
			return src.Feed(ctx, rddPartitions{rdd})
		})
	}
	return ds.events.Stream(), nil
}

// rddPartitions is an RDD as a DStream source's batch.
type rddPartitions struct{ rdd *RDD }

func (p rddPartitions) Len() int { return len(p.rdd.ranges) }

// Each reads every range in its own goroutine; a failed read ends the
// task's events and is returned by ForeachPartition.
func (p rddPartitions) Each(ctx context.Context, task func(ctx context.Context, part int, items iter.Seq[*Event]) error) error {
	return p.rdd.ForeachPartition(ctx, func(ctx context.Context, part *Partition) error {
		return task(ctx, part.Index(), func(yield func(*Event) bool) {
			for ev, err := range part.Events() {
				if err != nil || !yield(ev) {
					return
				}
			}
		})
	})
}

// OffsetRangesOf turns a typed stream's ranges (BatchData.OffsetRanges)
// into Event Hubs offset ranges, for offsets.Store.CommitOffsets.
func OffsetRangesOf(ranges []streaming.Range) []OffsetRange {
	out := make([]OffsetRange, len(ranges))
	for i, r := range ranges {
		out[i] = OffsetRange{Name: r.Source, PartitionID: r.Partition, FromSeqNo: r.From, UntilSeqNo: r.Until, ResetFrom: r.ResetFrom}
	}
	return out
}
