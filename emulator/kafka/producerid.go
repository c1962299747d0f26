package kafka

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The idempotent producer, which the service supports (its Kafka
// transactions, where offered, build on it): InitProducerId hands out a
// producer id, and Produce checks each partition's batch sequence numbers
// so that a retried batch is not appended twice (the duplicate is answered
// with the offset it got the first time) and a gap is refused
// (OUT_OF_ORDER_SEQUENCE_NUMBER). Transactions are not served.
//
// Producer state is in memory: after a restart an unknown producer id is
// taken at whatever sequence it sends, so a retry straddling a restart may
// still duplicate, as the at-least-once contract allows.

// recentBatches is how many of a partition's last batches per producer are
// remembered for duplicates: Kafka's bound on in-flight idempotent batches.
const recentBatches = 5

// sentBatch is an appended batch: its sequence range and first offset.
type sentBatch struct {
	firstSeq, lastSeq int32
	offset            int64
}

// sequenceState is one producer's sequence on one partition. Its lock is
// held across the check and the append, so that two copies of a batch
// racing on two connections append once.
type sequenceState struct {
	mu     sync.Mutex
	epoch  int16
	recent []sentBatch // oldest first
}

type producerKey struct {
	id        int64
	topic     string
	partition int32
}

// producers issues producer ids and keeps their sequences.
type producers struct {
	mu     sync.Mutex // guards next, states
	first  int64      // the first id this run issued
	next   int64
	states map[producerKey]*sequenceState
}

func newProducers() *producers {
	// Ids start from the clock so that an id from before a restart is not
	// issued again to another producer.
	first := time.Now().UnixMilli()
	return &producers{first: first, next: first, states: map[producerKey]*sequenceState{}}
}

// initProducerID answers InitProducerId: a new id at epoch 0, or, for a
// transactional id, COORDINATOR_NOT_AVAILABLE (no transactions).
func (c *conn) initProducerID(req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	if !c.access.Send {
		// Kafka's answer to a producer without the right to write.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	ps := c.srv.producers
	ps.mu.Lock()
	resp.ProducerID, resp.ProducerEpoch = ps.next, 0
	ps.next++
	ps.mu.Unlock()
	return resp
}

// batchSequence is the producer, epoch and sequence range of a partition's
// batches; id -1 when they are not idempotent (or do not parse, which
// append reports).
func batchSequence(raw []byte) (id int64, epoch int16, first, last int32) {
	var b kmsg.RecordBatch
	if b.ReadFrom(raw) != nil || b.ProducerID < 0 {
		return -1, 0, 0, 0
	}
	id, epoch, first, n := b.ProducerID, b.ProducerEpoch, b.FirstSequence, b.NumRecords
	for pos := 12 + int(b.Length); pos < len(raw) && pos > 0; pos += 12 + int(b.Length) {
		if b.ReadFrom(raw[pos:]) != nil || b.ProducerID != id {
			return -1, 0, 0, 0
		}
		n += b.NumRecords
	}
	return id, epoch, first, first + n - 1
}

// appendOnce appends a partition's batches through do unless they are a
// duplicate of a recent batch of the same producer; it answers the offset
// and error code as Produce does.
func (ps *producers) appendOnce(topic string, partition int32, raw []byte, do func() (int64, int16)) (int64, int16) {
	id, epoch, first, last := batchSequence(raw)
	if id < 0 {
		return do()
	}
	ps.mu.Lock()
	st := ps.states[producerKey{id, topic, partition}]
	if st == nil {
		st = &sequenceState{epoch: epoch}
		ps.states[producerKey{id, topic, partition}] = st
	}
	notIssued := id < ps.first || id >= ps.next
	ps.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if dup, code := st.check(epoch, first, last, notIssued); code != 0 || dup >= 0 {
		return dup, code
	}
	offset, code := do()
	if code == 0 {
		st.epoch = epoch
		st.recent = append(st.recent, sentBatch{first, last, offset})
		if len(st.recent) > recentBatches {
			st.recent = st.recent[1:]
		}
	}
	return offset, code
}

// check classes a batch: a duplicate (its first offset), in order (-1, 0),
// or refused (an error code). notIssued marks an id this run did not hand
// out (from before a restart): its first batch is taken at any sequence.
func (st *sequenceState) check(epoch int16, first, last int32, notIssued bool) (int64, int16) {
	switch {
	case epoch < st.epoch:
		return -1, kerr.InvalidProducerEpoch.Code
	case epoch > st.epoch:
		st.epoch, st.recent = epoch, nil
	}
	for _, b := range st.recent {
		if b.firstSeq == first && b.lastSeq == last {
			return b.offset, 0
		}
	}
	switch {
	case len(st.recent) > 0 && first == st.recent[len(st.recent)-1].lastSeq+1:
		return -1, 0
	case len(st.recent) == 0 && (first == 0 || notIssued):
		return -1, 0
	}
	return -1, kerr.OutOfOrderSequenceNumber.Code
}
