package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/go-amqp"
)

// readRange reads r's events in order and hands each to yield, which
// returns false to stop early. It checks r against the partition's bounds
// first (bounds, when known, saves a management call), takes the
// partition's receiver, reuses it when it stands at the range's start, and
// retries transient failures until a read makes no progress for
// OperationTimeout. skipped counts events lost to retention when
// FailOnDataLoss is off.
func readRange(ctx context.Context, conf *Conf, c *client, r OffsetRange, b *PartitionBounds, yield func(*Event) bool) (skipped int64, err error) {
	if r.Count() == 0 && b == nil {
		return 0, nil
	}
	if b == nil {
		pb, err := c.partitionBounds(ctx, conf, r.PartitionID)
		if err != nil {
			return 0, err
		}
		b = &pb
	}
	start, skipped, err := checkRange(conf, r, *b)
	if err != nil || start == r.UntilSeqNo {
		return skipped, err
	}
	rcv, err := c.acquire(ctx, r.PartitionID)
	if err != nil {
		return skipped, err
	}
	defer c.put(rcv)
	rd := &rangeReader{conf: conf, c: c, r: r, rcv: rcv, yield: yield, start: start, next: start, skipped: skipped}
	err = rd.read(ctx)
	return rd.skipped, err
}

// rangeReader is one read of a range, from start, on the partition's
// receiver, which it holds: where the read stands, and what it retries.
type rangeReader struct {
	conf    *Conf
	c       *client
	r       OffsetRange
	rcv     *receiver
	yield   func(*Event) bool
	start   int64 // where the read began, past what retention removed
	next    int64 // the sequence number to hand out next
	skipped int64
	f       *fetcher // nil until the next chunk is asked for
	// deadline is when a read that makes no progress fails: OperationTimeout
	// after the last chunk that held events.
	deadline time.Time
	backoff  time.Duration
	attempts int   // failed attempts since the last progress
	lastErr  error // the last transient failure, the cause of a timeout
}

// read hands out the range's events from next, fetching them a chunk
// ahead, until the range's end, yield's false, or an error.
func (rd *rangeReader) read(ctx context.Context) error {
	rd.progressed()
	finished := false
	defer func() {
		rd.f.stop()
		// A read that ends short of the range (its context ended, an
		// error, the reader stopped) may leave the link past next: a chunk
		// the fetcher took and nobody handed out. The next read must not
		// reuse the link as if it stood at rcv.next.
		if !finished {
			rd.rcv.closeLink()
		}
	}()
	for rd.next < rd.r.UntilSeqNo {
		if rd.f == nil {
			if err := rd.startFetch(ctx); err != nil {
				return err
			}
			if rd.f == nil {
				continue // positioning failed for now: tried again after a backoff
			}
		}
		got, ok := <-rd.f.ch
		if !ok { // the fetcher ended: at the range's end, or ctx ended (checked by startFetch)
			rd.endFetch()
			continue
		}
		if len(got.events) == 0 {
			if err := rd.retryEmpty(ctx, got.err); err != nil {
				return err
			}
			continue
		}
		rd.progressed()
		if done, err := rd.deliver(got.events); done {
			return err
		}
		if len(got.events) < got.want {
			// The receive timed out with credit unused (the fetcher stopped
			// there): events that come later would wait in the SDK and be
			// handed out by a receive that never asks the service, so a
			// lost partition would go unnoticed. A fresh link starts with
			// no credit.
			rd.endFetch()
			rd.rcv.closeLink()
		}
		rd.rcv.next = rd.next
	}
	finished = true
	return nil
}

// startFetch positions the link at next and starts fetching from there.
// When positioning failed in a way worth retrying, it waits out the
// backoff and leaves f nil, for the loop to try again.
func (rd *rangeReader) startFetch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if time.Now().After(rd.deadline) {
		return &Error{Code: CodeTimeout, Hub: rd.r.Name, PartitionID: rd.r.PartitionID,
			Message: fmt.Sprintf("no progress reading [%d, %d) for %s (OperationTimeout); stopped at %d", rd.start, rd.r.UntilSeqNo, rd.conf.OperationTimeout(), rd.next), Err: rd.lastErr}
	}
	if err := rd.rcv.positionAt(ctx, rd.c, rd.conf, rd.next); err != nil {
		if e := permanent(err, rd.r.Name, rd.r.PartitionID); e != nil {
			return e
		}
		rd.retry(ctx, err)
		return nil
	}
	rd.f = fetch(ctx, rd.conf, rd.rcv, rd.next, rd.r.UntilSeqNo)
	return nil
}

// endFetch stops the fetcher; the next turn of the loop starts another.
func (rd *rangeReader) endFetch() {
	rd.f.stop()
	rd.f = nil
}

// retryEmpty handles a receive that brought nothing, failing with err
// (nil: it timed out): the read fails when err is permanent, and
// otherwise starts over from a fresh link at the same place.
func (rd *rangeReader) retryEmpty(ctx context.Context, err error) error {
	rd.endFetch()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if e := permanent(err, rd.r.Name, rd.r.PartitionID); e != nil {
		return e
	}
	// Nothing within ReceiverTimeout although the events exist, or a
	// dropped link.
	if err == nil {
		err = fmt.Errorf("no events within ReceiverTimeout (%s)", rd.conf.ReceiverTimeout())
	}
	rd.rcv.closeLink()
	rd.retry(ctx, err)
	return nil
}

// retry notes and logs a transient failure and waits out the backoff.
func (rd *rangeReader) retry(ctx context.Context, err error) {
	rd.lastErr = err
	rd.attempts++
	logRetry(rd.conf, rd.r.Name, rd.r.PartitionID, rd.attempts, err)
	sleep(ctx, &rd.backoff)
}

// progressed restarts the no-progress deadline, the backoff and the count
// of attempts.
func (rd *rangeReader) progressed() {
	rd.deadline = time.Now().Add(rd.conf.OperationTimeout())
	rd.backoff = 50 * time.Millisecond
	rd.attempts = 0
}

// deliver hands a chunk's events from next to yield, skipping those a
// reconnect replayed. done says the read is over: at an error, an event
// past the range, or yield's false.
func (rd *rangeReader) deliver(events []*azeventhubs.ReceivedEventData) (done bool, err error) {
	for _, e := range events {
		if e.SequenceNumber < rd.next {
			continue // already delivered: a reconnect may replay
		}
		if e.SequenceNumber > rd.next {
			if err := rd.skipTo(e.SequenceNumber); err != nil {
				return true, err
			}
		}
		if e.SequenceNumber >= rd.r.UntilSeqNo || !rd.yield(newEvent(rd.r.PartitionID, e)) {
			// Events past what the reader takes are dropped with the
			// link (closed on the way out): kept, they would be handed
			// out later without a receive that could notice the
			// partition was taken.
			return true, nil
		}
		rd.next++
	}
	return false, nil
}

// skipTo handles events between next and seq, the next available, that
// retention removed while the range was read: data loss, an error with
// FailOnDataLoss, else a warning and a skip.
func (rd *rangeReader) skipTo(seq int64) error {
	r := rd.r
	gap := min(seq, r.UntilSeqNo) - rd.next
	if rd.conf.FailOnDataLoss() {
		return &Error{Code: CodeDataLoss, Hub: r.Name, PartitionID: r.PartitionID,
			Message: fmt.Sprintf("wanted sequence number %d, the next available is %d: %d events were removed (retention) while reading [%d, %d)", rd.next, seq, gap, r.FromSeqNo, r.UntilSeqNo)}
	}
	rd.conf.Logger().Warn("eventhubs: events lost while reading", "hub", r.Name, "partition", r.PartitionID,
		"wanted", rd.next, "available", seq, "skipped", gap)
	rd.skipped += gap
	rd.next += gap
	return nil
}

// checkRange compares r with the partition's bounds: past the end is an
// error; below the first available event is data loss, an error or a skip.
func checkRange(conf *Conf, r OffsetRange, b PartitionBounds) (start, skipped int64, err error) {
	if r.UntilSeqNo > b.End || r.FromSeqNo > b.End {
		return 0, 0, &Error{Code: CodeRangeOutOfBounds, Hub: r.Name, PartitionID: r.PartitionID,
			Message: fmt.Sprintf("range [%d, %d) ends past the last event: the partition holds [%d, %d)", r.FromSeqNo, r.UntilSeqNo, b.First, b.End)}
	}
	if r.FromSeqNo >= b.First {
		return r.FromSeqNo, 0, nil
	}
	lost := min(r.UntilSeqNo, b.First) - r.FromSeqNo
	if conf.FailOnDataLoss() {
		return 0, 0, &Error{Code: CodeDataLoss, Hub: r.Name, PartitionID: r.PartitionID,
			Message: fmt.Sprintf("wanted sequence number %d, the first available is %d: %d events of range [%d, %d) are gone (retention); set FailOnDataLoss false to read what is left", r.FromSeqNo, b.First, lost, r.FromSeqNo, r.UntilSeqNo)}
	}
	conf.Logger().Warn("eventhubs: events lost before reading", "hub", r.Name, "partition", r.PartitionID,
		"wanted", r.FromSeqNo, "available", b.First, "skipped", lost)
	return r.FromSeqNo + lost, lost, nil
}

// maxCredit is the most events the SDK lets one receive without prefetch
// ask for.
const maxCredit = 5000

// receiveCount is how many events one receive of partition id asks the
// service for: its prefetch. A read holds at most three such chunks: one
// in the reader's hands, one waiting, one under way.
func receiveCount(conf *Conf, id string) int { return min(max(conf.PrefetchFor(id), 100), maxCredit) }

// positionAt makes sure the receiver delivers seq next, reusing its link
// when it already stands there and opening a new one otherwise.
//
// Links have no prefetch: each receive gives the service credit for just
// the events the range still needs, which exist, so it returns with all of
// them and leaves no credit behind. The SDK then never holds events that a
// later receive would hand out without asking the service, and the first
// receive after another reader took the partition fails at once
// (CodeOwnershipLost) instead of serving what was prefetched before.
func (r *receiver) positionAt(ctx context.Context, c *client, conf *Conf, seq int64) error {
	if r.pc != nil && r.next == seq {
		return nil
	}
	r.closeLink()
	opts := &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{SequenceNumber: &seq, Inclusive: true},
		Prefetch:      -1,
	}
	if c.key.exclusive { // a connection holds readers of one kind
		var level int64
		opts.OwnerLevel = &level
	}
	pc, err := c.cc.NewPartitionClient(r.partitionID, opts)
	if err != nil {
		return err
	}
	r.pc, r.next = pc, seq
	return nil
}

// fetcher asks a link for a range's events a chunk at a time, one chunk
// ahead of the reader: a link without prefetch works only while asked, and
// this keeps it working while the reader takes the chunk before. It stops
// at the range's end, after a receive that got less than it asked for, or
// when stopped; the reader's link is the fetcher's until then.
type fetcher struct {
	ch     chan received // closed when the fetcher ends
	cancel context.CancelFunc
	done   chan struct{}
}

func fetch(ctx context.Context, conf *Conf, rcv *receiver, from, until int64) *fetcher {
	fctx, cancel := context.WithCancel(ctx)
	f := &fetcher{ch: make(chan received, 1), cancel: cancel, done: make(chan struct{})}
	chunk := int64(receiveCount(conf, rcv.partitionID))
	go func() {
		defer close(f.done)
		defer close(f.ch) // at the end, or stopped: a reader waiting on ch then looks at its context
		for from < until {
			got := rcv.receive(fctx, conf, int(min(until-from, chunk)))
			select {
			case f.ch <- got:
			case <-fctx.Done():
				return
			}
			if len(got.events) < got.want {
				return
			}
			from = got.events[len(got.events)-1].SequenceNumber + 1
		}
	}()
	return f
}

// stop ends the fetcher and waits for it to let go of the link.
func (f *fetcher) stop() {
	if f != nil {
		f.cancel()
		<-f.done
	}
}

// askOnce asks the link for one event, waiting at most wait (never more
// than ReceiverTimeout), and returns it if it came. The error says whether
// the link is still the reader's: with nothing held in the SDK, a taken
// link fails at once; nil when the wait simply ended.
func (r *receiver) askOnce(ctx context.Context, conf *Conf, wait time.Duration) ([]*azeventhubs.ReceivedEventData, error) {
	if err := r.linkErr; err != nil {
		r.linkErr = nil
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, min(wait, conf.ReceiverTimeout()))
	defer cancel()
	evs, err := r.pc.ReceiveEvents(actx, 1, nil)
	if len(evs) > 0 || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
		return evs, nil
	}
	return nil, err
}

// received is what one receive asked for and got.
type received struct {
	want   int
	events []*azeventhubs.ReceivedEventData
	err    error
}

// receive asks the link for n events and returns what came within
// ReceiverTimeout. Events a check of the idle link left pending come
// first, once the link has been asked again: a taken link fails that ask
// at once, and nothing received before is handed out after.
func (r *receiver) receive(ctx context.Context, conf *Conf, n int) received {
	if len(r.ready) > 0 {
		out := r.ready[:min(n, len(r.ready)):min(n, len(r.ready))]
		if r.ready = r.ready[len(out):]; len(r.ready) == 0 {
			r.ready = nil // the array goes with the events handed out
		}
		return received{want: len(out), events: out}
	}
	if err := r.linkErr; err != nil {
		r.linkErr = nil
		return received{want: n, err: err}
	}
	if len(r.pending) > 0 {
		more, err := r.askOnce(ctx, conf, holdWait)
		if err != nil {
			r.pending = nil
			return received{want: n, err: err}
		}
		out := append(r.pending, more...)
		r.pending = nil
		if len(out) > n { // the rest waits, and is checked again, too
			out, r.pending = out[:n:n], out[n:]
		}
		return received{want: len(out), events: out}
	}
	rctx, cancel := context.WithTimeout(ctx, conf.ReceiverTimeout())
	defer cancel()
	events, err := r.pc.ReceiveEvents(rctx, n, nil)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = nil // the receive timed out, which the caller handles
	}
	return received{want: n, events: events, err: err}
}

// permanent turns an error that retrying cannot fix into an *Error, and
// returns nil for transient ones.
func permanent(err error, hub, partition string) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	mk := func(code ErrorCode, msg string) *Error {
		return &Error{Code: code, Hub: hub, PartitionID: partition, Message: msg, Err: err}
	}
	var sdkErr *azeventhubs.Error
	if errors.As(err, &sdkErr) {
		switch sdkErr.Code {
		case azeventhubs.ErrorCodeUnauthorizedAccess:
			return mk(CodeUnauthorized, "the service refused the credentials")
		case azeventhubs.ErrorCodeOwnershipLost:
			return mk(CodeOwnershipLost, "another reader with the same or a higher owner level took the partition in this consumer group")
		}
	}
	if cond := condition(err); cond != "" {
		switch cond {
		case amqp.ErrCondNotFound:
			return mk(CodeNotFound, "the hub, partition or consumer group does not exist")
		case amqp.ErrCondUnauthorizedAccess:
			return mk(CodeUnauthorized, "the service refused the credentials")
		case "amqp:link:stolen":
			return mk(CodeOwnershipLost, "another reader with the same or a higher owner level took the partition in this consumer group")
		case amqp.ErrCondResourceLimitExceeded:
			return mk(CodeQuotaExceeded, "the service refused: a quota is reached (such as 5 readers without an owner level per partition and consumer group)")
		case amqp.ErrCondNotAllowed, amqp.ErrCondInvalidField, "com.microsoft:entity-disabled", "com.microsoft:argument-out-of-range",
			amqp.ErrCondMessageSizeExceeded, "com.microsoft:argument-error":
			return mk(CodeInvalidRange, "the service refused the request")
		}
	}
	var rpc interface{ RPCCode() int }
	if errors.As(err, &rpc) {
		switch rpc.RPCCode() {
		case http.StatusNotFound:
			return mk(CodeNotFound, "the hub, partition or consumer group does not exist")
		case http.StatusUnauthorized, http.StatusForbidden:
			return mk(CodeUnauthorized, "the service refused the credentials")
		case http.StatusBadRequest:
			return mk(CodeInvalidRange, "the service refused the request")
		}
	}
	return nil
}

// sdkCondition finds an AMQP error condition in the text of an SDK error:
// the SDK wraps a refused link in an *azeventhubs.Error ("connlost") that
// does not unwrap, and names the condition only in its message.
var sdkCondition = regexp.MustCompile(`Condition: ([a-zA-Z0-9:._-]+)`)

// condition is the AMQP error condition err carries, or "".
func condition(err error) amqp.ErrCond {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) {
		return amqpErr.Condition
	}
	var sdkErr *azeventhubs.Error
	if errors.As(err, &sdkErr) {
		if m := sdkCondition.FindStringSubmatch(sdkErr.Error()); m != nil {
			return amqp.ErrCond(m[1])
		}
	}
	return ""
}

// sleep waits out a backoff that doubles up to two seconds.
func sleep(ctx context.Context, backoff *time.Duration) {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	*backoff = min(*backoff*2, 2*time.Second)
}
