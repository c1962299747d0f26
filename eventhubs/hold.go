package eventhubs

import (
	"context"
	"errors"
	"sync"
	"time"
)

// holdWait is how long checking an idle partition's link waits for an
// event that is not coming. A taken link answers at once, whatever the
// wait: with no event held in the SDK the receive can only end on the
// link's detach, an event, or the wait.
const holdWait = 20 * time.Millisecond

// hold makes sure the stream's exclusive link of each partition in ids,
// positioned at next[id], is open and still its own, without handing out an
// event. Called when a stream starts, it takes the partitions (another
// instance reading them stops at its next receive); called for partitions
// with nothing to read, it notices when another reader took them, which a
// stream that only reads when there are events would not until the next
// event. An event that arrives meanwhile waits in the receiver for the
// next read, which checks the link again before handing it out.
func (c *client) hold(ctx context.Context, conf *Conf, ids []string, next map[string]int64) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.holdOne(ctx, conf, id, next[id])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *client) holdOne(ctx context.Context, conf *Conf, id string, next int64) error {
	rcv, err := c.acquire(ctx, id)
	if err != nil {
		return err
	}
	defer c.put(rcv)
	if err := rcv.positionAt(ctx, c, conf, next); err != nil {
		if e := permanent(err, conf.EventHubName(), id); e != nil {
			return e
		}
		return nil // the next read retries
	}
	rctx, cancel := context.WithTimeout(ctx, min(holdWait, conf.ReceiverTimeout()))
	defer cancel()
	evs, err := rcv.pc.ReceiveEvents(rctx, 1, nil)
	switch {
	case len(evs) > 0:
		rcv.pending = evs
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
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
