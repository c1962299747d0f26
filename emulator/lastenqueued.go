package emulator

import (
	"slices"
	"strconv"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
	"github.com/ehstream/ehstream/emulator/partlog"
)

// Last-enqueued event properties. A receiver that attaches with the desired
// capability com.microsoft:enable-receiver-runtime-metric (JavaScript's
// trackLastEnqueuedEventProperties, Python's
// track_last_enqueued_event_properties; the Go SDK has no such option)
// finds the capability offered in the attach reply, and on every delivery
// the partition's last enqueued event and when it was read, as delivery
// annotations with the service's names and types. Deliveries to receivers
// that do not ask go out as stored, without a copy.

// capReceiverRuntimeMetric is the capability a receiver desires to get
// last-enqueued event properties.
const capReceiverRuntimeMetric amqp.Symbol = "com.microsoft:enable-receiver-runtime-metric"

// Delivery annotations of a receiver that asked for them.
const (
	annLastSequenceNumber amqp.Symbol = "last_enqueued_sequence_number"   // long
	annLastOffset         amqp.Symbol = "last_enqueued_offset"            // string, decimal
	annLastEnqueuedTime   amqp.Symbol = "last_enqueued_time_utc"          // timestamp
	annRetrievalTime      amqp.Symbol = "runtime_info_retrieval_time_utc" // timestamp
)

func wantsRuntimeMetric(desired []amqp.Symbol) bool {
	return slices.Contains(desired, capReceiverRuntimeMetric)
}

// runtimeInfo annotates the deliveries of one receiver that asked for
// last-enqueued event properties; its consumer's pump goroutine owns it.
type runtimeInfo struct {
	section []byte // the delivery-annotations section for the current read
	buf     []byte // the annotated delivery, reused from one to the next
}

// refresh reads the partition's last enqueued event, at now, for the
// deliveries of one read of the log: read after the events it delivers,
// so it is never behind them.
func (ri *runtimeInfo) refresh(p *partition, now time.Time) {
	seq, offset, at := lastEnqueued(p)
	// AppendMap fails only on a type it cannot encode; these are a long, a
	// string and two timestamps.
	ri.section, _ = amqp.AppendDeliveryAnnotations(ri.section[:0], amqp.Map{
		{Key: annLastSequenceNumber, Value: seq},
		{Key: annLastOffset, Value: offset},
		{Key: annLastEnqueuedTime, Value: at},
		{Key: annRetrievalTime, Value: now},
	})
}

// annotate returns payload, a stored event, with the current delivery
// annotations. The slice is valid until the next call.
func (ri *runtimeInfo) annotate(payload []byte) ([]byte, error) {
	b, err := amqp.AppendWithDeliveryAnnotations(ri.buf[:0], payload, ri.section)
	if err != nil {
		return nil, err
	}
	ri.buf = b
	return b, nil
}

// lastEnqueued is the partition's last enqueued event as $management
// reports it (partitionProperties): its sequence number, its offset in
// decimal, and its enqueued time; -1, "-1" and the Unix epoch before the
// first event.
func lastEnqueued(p *partition) (seq int64, offset string, at time.Time) {
	_, next, last, ok := p.log.Tail()
	return lastOf(next, last, ok)
}

// lastOf is the last enqueued event of a log's Tail, as $management
// reports it.
func lastOf(next int64, last partlog.Meta, ok bool) (seq int64, offset string, at time.Time) {
	if ok {
		return last.SequenceNumber, strconv.FormatInt(last.Offset, 10), last.EnqueuedTime
	}
	return next - 1, "-1", time.Unix(0, 0).UTC()
}
