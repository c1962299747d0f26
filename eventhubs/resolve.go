package eventhubs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// groupCheckWait is how long checking a consumer group on a hub with no
// events waits for a refusal of its receiver; a refusal comes within a
// round trip, and nothing else can tell that the receiver was accepted.
const groupCheckWait = time.Second

// role says what a resolved position is for, in errors: a stream's
// starting position, or a position an ad-hoc read asked for.
type role struct {
	what string // "starting position", "from position", ...
	// held is the advice when another reader holds the partition.
	held string
}

var startingPosition = role{what: "starting position",
	held: "the stream does not take it to resolve a position: stop that reader, or start from a sequence number"}

// resolveAs turns position p of partition id, whose bounds are b, into the
// sequence number of the first event at or after it. Offsets and enqueued
// times are asked of the service with a receiver that has no owner level,
// so that resolving does not take the partition from another reader.
func resolveAs(ctx context.Context, conf *Conf, probe *client, r role, id string, p EventPosition, b PartitionBounds) (int64, error) {
	switch p.Kind() {
	case PositionStartOfStream:
		return b.First, nil
	case PositionEndOfStream:
		return b.End, nil
	case PositionSequenceNumber:
		if p.Inclusive() {
			return p.SequenceNumber(), nil
		}
		return p.SequenceNumber() + 1, nil
	}
	if b.Empty() {
		return b.End, nil
	}
	start := azeventhubs.StartPosition{Inclusive: p.Inclusive()}
	switch p.Kind() {
	case PositionOffset:
		off := p.Offset()
		// At or past the last event the answer is known: a receive would
		// only wait a whole ReceiverTimeout for an event after it.
		switch c, ok := compareOffsets(off, b.LastOffset); {
		case off == b.LastOffset, ok && c == 0:
			if p.Inclusive() {
				return b.End - 1, nil
			}
			return b.End, nil
		case ok && c > 0:
			return b.End, nil
		}
		start.Offset = &off
	case PositionEnqueuedTime:
		t := p.EnqueuedTime()
		if !t.Before(b.LastEnqueued) {
			return b.End, nil
		}
		start.EnqueuedTime = &t
	}
	ev, err := firstEvent(ctx, conf, probe, id, start, conf.ReceiverTimeout())
	switch {
	case HasCode(err, CodeOwnershipLost):
		return 0, &Error{Code: CodeOwnershipLost, Hub: conf.EventHubName(), PartitionID: id, Err: err,
			Message: fmt.Sprintf("resolving %s %s needs to read the partition, and another reader holds it exclusively (owner level); %s", r.what, p, r.held)}
	case HasCode(err, CodeInvalidRange):
		return 0, &Error{Code: CodeInvalidConf, Hub: conf.EventHubName(), PartitionID: id, Err: cause(err),
			Message: fmt.Sprintf("the service refused %s %s (is it an offset this partition gave out?)", r.what, p)}
	case err != nil:
		return 0, fmt.Errorf("resolving %s %s: %w", r.what, p, err)
	case ev == nil:
		return b.End, nil // nothing after the position: start after the last event
	}
	return ev.SequenceNumber, nil
}

// compareOffsets compares two offsets as numbers, when both are
// non-negative decimal integers, as Event Hubs' and the emulator's are; ok
// is false for any other form (the service's "-1", or a form it may use
// one day), which only the service can place. The digits are compared as
// text, so that no length overflows.
func compareOffsets(a, b string) (c int, ok bool) {
	if !decimal(a) || !decimal(b) {
		return 0, false
	}
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b)), true
	}
	return strings.Compare(a, b), true
}

// decimal reports whether s is a non-negative decimal integer: digits only.
func decimal(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// firstEvent opens a receiver at start and returns the first event it
// delivers within wait, or nil when none comes although the receiver was
// accepted. probe's SDK client does not retry, so a refused receiver
// fails at once; transient failures are retried here for OperationTimeout.
// The wait is not cut short by OperationTimeout: "nothing within the
// receive timeout" is the answer, never a timeout error.
func firstEvent(ctx context.Context, conf *Conf, probe *client, id string, start azeventhubs.StartPosition, wait time.Duration) (*azeventhubs.ReceivedEventData, error) {
	hub := conf.EventHubName()
	deadline := time.Now().Add(conf.OperationTimeout())
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ev, err := receiveOne(ctx, probe, id, start, wait)
		if err == nil {
			return ev, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if e := permanent(err, hub, id); e != nil {
			return nil, e
		}
		if time.Now().After(deadline) {
			return nil, &Error{Code: CodeTimeout, Hub: hub, PartitionID: id,
				Message: fmt.Sprintf("no receiver within OperationTimeout (%s)", conf.OperationTimeout()), Err: err}
		}
		logRetry(conf, hub, id, attempt, err)
		sleep(ctx, &backoff)
	}
}

func receiveOne(ctx context.Context, probe *client, id string, start azeventhubs.StartPosition, wait time.Duration) (*azeventhubs.ReceivedEventData, error) {
	pc, err := probe.cc.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: start, Prefetch: -1})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = pc.Close(cctx)
		cancel()
	}()
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	evs, err := pc.ReceiveEvents(rctx, 1, nil)
	if len(evs) > 0 {
		return evs[0], nil
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, nil
	}
	if err == nil {
		err = errors.New("the receive returned no event and no error")
	}
	return nil, err
}

// checkGroup makes sure the consumer group exists before the stream
// starts, even on a hub with nothing to read, when no receive would tell.
// A receiver of the group is opened on the partition with the most events
// at its last event, so an accepted receiver answers with that event at
// once; only a hub with no events at all costs groupCheckWait. "$Default"
// always exists.
func checkGroup(ctx context.Context, conf *Conf, probe *client, hp *HubProperties) error {
	if strings.EqualFold(conf.ConsumerGroup(), DefaultConsumerGroup) || len(hp.Partitions) == 0 {
		return nil
	}
	b := hp.Partitions[0]
	for _, pb := range hp.Partitions[1:] {
		if pb.End-pb.First > b.End-b.First {
			b = pb
		}
	}
	latest := true
	start, wait := azeventhubs.StartPosition{Latest: &latest}, min(groupCheckWait, conf.ReceiverTimeout())
	if !b.Empty() {
		last := b.End - 1
		start, wait = azeventhubs.StartPosition{SequenceNumber: &last, Inclusive: true}, conf.ReceiverTimeout()
	}
	_, err := firstEvent(ctx, conf, probe, b.PartitionID, start, wait)
	switch {
	case err == nil, HasCode(err, CodeOwnershipLost):
		// Another reader of the group holds the partition: the group exists.
		return nil
	case HasCode(err, CodeNotFound):
		return &Error{Code: CodeNotFound, Hub: conf.EventHubName(), Err: cause(err),
			Message: fmt.Sprintf("consumer group %q does not exist in this hub (names are not case-sensitive); create it, or use another", conf.ConsumerGroup())}
	}
	return fmt.Errorf("checking consumer group %q: %w", conf.ConsumerGroup(), err)
}

// cause is what lies under one of this package's errors, so that an error
// made from it says what went wrong once.
func cause(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err
	}
	return err
}
