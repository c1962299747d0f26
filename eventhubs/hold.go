package eventhubs

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// holdWait is how long checking an attached idle link waits for an event
// that is not coming. A taken link answers at once, whatever the wait:
// with no event held in the SDK the receive can only end on the link's
// detach, an event, or the wait.
const holdWait = 20 * time.Millisecond

// hold makes sure the stream's exclusive link of each partition of parts,
// positioned at next[id], is open and still its own, without handing out an
// event. Called when a stream starts, it takes the partitions (another
// instance reading them stops at its next receive); called for partitions
// with nothing to read, it notices when another reader took them, which a
// stream that only reads when there are events would not until the next
// event. An event that arrives meanwhile waits in the receiver for the
// next read, which checks the link again before handing it out.
func (c *client) hold(ctx context.Context, conf *Conf, parts []PartitionBounds, next map[string]int64) error {
	return parallel.Each(len(parts), func(i int) error { return c.holdOne(ctx, conf, parts[i], next[parts[i].PartitionID]) })
}

func (c *client) holdOne(ctx context.Context, conf *Conf, b PartitionBounds, next int64) error {
	id := b.PartitionID
	rcv, err := c.acquire(ctx, id)
	if err != nil {
		return err
	}
	defer c.put(rcv)
	var evs []*azeventhubs.ReceivedEventData
	if rcv.pc != nil && rcv.next == next {
		if len(rcv.ready) > 0 {
			return nil // its read-ahead was receiving until acquire took the link
		}
		evs, err = rcv.askOnce(ctx, conf, holdWait)
	} else {
		// A new link: only an event shows that its attach went through, and
		// a short wait would end before a slow attach does. So it starts at
		// the event before next when there is one, which comes as soon as
		// the link is attached, and is dropped.
		from := next
		if next > b.First && next <= b.End {
			from = next - 1
		}
		if err := rcv.positionAt(ctx, c, conf, from); err != nil {
			if e := permanent(err, conf.EventHubName(), id); e != nil {
				return e
			}
			return nil // the next read retries
		}
		wait := conf.ReceiverTimeout()
		if from >= b.End {
			wait = min(holdWait, wait) // no event to wait for
		}
		evs, err = rcv.askOnce(ctx, conf, wait)
		if len(evs) > 0 && from < next && evs[0].SequenceNumber == from {
			evs = evs[1:]
		}
		rcv.next = next
	}
	switch {
	case len(evs) > 0:
		rcv.pending = append(rcv.pending, evs...) // after what an earlier check kept
	case err == nil:
		// Still ours. The unused credit of one stays with the link: the
		// next receive asks for more than the SDK can hold, so it too
		// waits on the link and sees a detach.
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		rcv.closeLink()
		if e := permanent(err, conf.EventHubName(), id); e != nil {
			return e
		}
	}
	return nil
}
