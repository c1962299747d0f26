package eventhubs

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// PartitionBounds is what a partition holds: sequence numbers [First, End).
// First == End when it is empty.
type PartitionBounds struct {
	PartitionID string
	First       int64 // the first sequence number still held
	End         int64 // the last sequence number + 1
	// LastOffset and LastEnqueued describe the last event ("" and zero when
	// the partition never had one).
	LastOffset   string
	LastEnqueued time.Time
}

// Empty reports a partition that holds no events.
func (b PartitionBounds) Empty() bool { return b.First >= b.End }

// HubProperties describes a hub and its partitions.
type HubProperties struct {
	Name         string
	CreatedOn    time.Time
	PartitionIDs []string
	Partitions   []PartitionBounds // in PartitionIDs' order
}

// DescribeHub reads the hub's properties and every partition's bounds,
// within OperationTimeout. It asks the service's management node and opens
// no receiver, so it never disturbs a partition's readers.
func DescribeHub(ctx context.Context, conf *Conf) (*HubProperties, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	c, err := defaultPool.clientFor(conf)
	if err != nil {
		return nil, err
	}
	defer c.release()
	return c.describe(ctx, conf, nil)
}

// describe reads the hub's properties and the bounds of the given
// partitions (all when ids is nil), in parallel.
func (c *client) describe(ctx context.Context, conf *Conf, ids []string) (*HubProperties, error) {
	var hp azeventhubs.EventHubProperties
	err := retry(ctx, conf, conf.EventHubName(), "", func(ctx context.Context) error {
		mc, err := c.management()
		if err != nil {
			return err
		}
		if hp, err = mc.GetEventHubProperties(ctx, nil); err != nil {
			c.managementFailed(mc, err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &HubProperties{Name: hp.Name, CreatedOn: hp.CreatedOn, PartitionIDs: hp.PartitionIDs}
	if ids == nil {
		ids = hp.PartitionIDs
	}
	if err := checkPartitionIDs(hp.Name, hp.PartitionIDs, ids); err != nil {
		return nil, err
	}
	out.Partitions = make([]PartitionBounds, len(ids))
	err = parallel.Each(len(ids), func(i int) error {
		var err error
		out.Partitions[i], err = c.partitionBounds(ctx, conf, ids[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkPartitionIDs refuses the first of ids the hub's partitionIDs lack,
// through a set: a hub has up to 1,024 partitions, a plan asks for each.
func checkPartitionIDs(hub string, partitionIDs, ids []string) error {
	has := make(map[string]bool, len(partitionIDs))
	for _, id := range partitionIDs {
		has[id] = true
	}
	for _, id := range ids {
		if !has[id] {
			return &Error{Code: CodeInvalidRange, Hub: hub, PartitionID: id,
				Message: fmt.Sprintf("no such partition: the hub has %v", partitionIDs)}
		}
	}
	return nil
}

// probeBounds takes conf's probing connection and reads the hub and the
// bounds of partitions ids (all when nil): what resolving positions and
// reading lag start from. The caller releases the client.
func probeBounds(ctx context.Context, conf *Conf, ids []string) (*client, *HubProperties, error) {
	probe, err := defaultPool.probeFor(conf)
	if err != nil {
		return nil, nil, err
	}
	hp, err := probe.describe(ctx, conf, ids)
	if err != nil {
		probe.release()
		return nil, nil, err
	}
	return probe, hp, nil
}

// partitionBounds asks the service for one partition's bounds.
func (c *client) partitionBounds(ctx context.Context, conf *Conf, id string) (PartitionBounds, error) {
	var pp azeventhubs.PartitionProperties
	err := retry(ctx, conf, conf.EventHubName(), id, func(ctx context.Context) error {
		mc, err := c.management()
		if err != nil {
			return err
		}
		if pp, err = mc.GetPartitionProperties(ctx, id, nil); err != nil {
			c.managementFailed(mc, err)
		}
		return err
	})
	if err != nil {
		return PartitionBounds{}, err
	}
	b := PartitionBounds{PartitionID: id, First: pp.BeginningSequenceNumber, End: pp.LastEnqueuedSequenceNumber + 1}
	if pp.IsEmpty {
		b.First = b.End
	} else {
		b.LastOffset = pp.LastEnqueuedOffset
		b.LastEnqueued = pp.LastEnqueuedOn.UTC()
	}
	if b.First > b.End { // a service that reports an empty partition oddly
		b.First = b.End
	}
	return b, nil
}

// retry runs op until it succeeds, fails permanently, or OperationTimeout
// passes; the SDK retries inside each attempt as well. Each failed attempt
// is logged with its cause; a timeout holds the last cause an attempt
// met before the deadline, not the deadline's own "i/o timeout".
func retry(ctx context.Context, conf *Conf, hub, partition string, op func(context.Context) error) error {
	octx, cancel := context.WithTimeout(ctx, conf.OperationTimeout())
	defer cancel()
	backoff := 50 * time.Millisecond
	var cause error
	for attempt := 1; ; attempt++ {
		err := op(octx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e := permanent(err, hub, partition); e != nil {
			return e
		}
		if octx.Err() != nil {
			if cause == nil {
				cause = err
			}
			return &Error{Code: CodeTimeout, Hub: hub, PartitionID: partition,
				Message: fmt.Sprintf("no answer within OperationTimeout (%s)", conf.OperationTimeout()), Err: cause}
		}
		cause = err
		logRetry(conf, hub, partition, attempt, err)
		sleep(octx, &backoff)
	}
}

// logRetry tells of a failed attempt that is retried: the operations of
// this package retry transient failures (a dropped connection, a busy
// service), and a person watching should see them happen, not a silence
// ending in a timeout.
func logRetry(conf *Conf, hub, partition string, attempt int, err error) {
	args := []any{"hub", hub}
	if partition != "" {
		args = append(args, "partition", partition)
	}
	conf.Logger().Warn("eventhubs: attempt failed, retrying", append(args, "attempt", attempt, "err", err)...)
}
