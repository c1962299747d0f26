package kafka

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/ehstream/ehstream/emulator/amqp"
	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The annotations every stored event carries (as the AMQP producer stores
// them), and the two that cross between the protocols. The service never
// turns a Kafka key into a partition key nor the reverse, since the two
// protocols hash them to different partitions: each is handed to the other
// protocol under its own name instead.
const (
	annSequenceNumber amqp.Symbol = "x-opt-sequence-number"
	annOffset         amqp.Symbol = "x-opt-offset"
	annEnqueuedTime   amqp.Symbol = "x-opt-enqueued-time"
	annPartitionKey   amqp.Symbol = "x-opt-partition-key"
	annKafkaKey       amqp.Symbol = "x-opt-kafka-key"
)

// storedMessage is the AMQP message a Kafka record is stored as: its value
// the body, its headers application properties with binary values, its key
// an annotation.
func storedMessage(dst []byte, r *kmsg.Record, m partlog.Meta) ([]byte, error) {
	ann := amqp.Map{}.
		Set(annSequenceNumber, m.SequenceNumber).
		Set(annOffset, strconv.FormatInt(m.Offset, 10)).
		Set(annEnqueuedTime, m.EnqueuedTime)
	if r.Key != nil {
		ann = ann.Set(annKafkaKey, r.Key)
	}
	msg := &amqp.Message{Annotations: ann, Data: [][]byte{r.Value}}
	for _, h := range r.Headers {
		msg.ApplicationProperties = append(msg.ApplicationProperties, amqp.KV{Key: h.Key, Value: orEmpty(h.Value)})
	}
	return amqp.AppendMessage(dst, msg)
}

// orEmpty keeps a null header value a binary one: AMQP's application
// properties hold no null binary the SDKs tell apart from an empty one.
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// kafkaRecord is a stored event as a Kafka record: body as value, the
// Kafka key if a Kafka client gave one, application properties as headers
// (binary values as they are, others in their AMQP encoding, as the
// service hands them over), and the partition key as a header under its
// AMQP name.
func kafkaRecord(payload []byte) (key, value []byte, headers []kmsg.Header, err error) {
	msg, err := amqp.DecodeMessage(payload)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kafka: a stored event does not decode: %w", err)
	}
	value = bytes.Join(msg.Data, nil)
	if v, ok := msg.Annotations.Get(annKafkaKey); ok {
		key, _ = v.([]byte)
	}
	if v, ok := msg.Annotations.Get(annPartitionKey); ok {
		if pk, ok := v.(string); ok {
			headers = append(headers, kmsg.Header{Key: string(annPartitionKey), Value: []byte(pk)})
		}
	}
	for _, kv := range msg.ApplicationProperties {
		name, ok := kv.Key.(string)
		if !ok {
			continue
		}
		h := kmsg.Header{Key: name}
		if b, ok := kv.Value.([]byte); ok {
			h.Value = b
		} else if h.Value, err = amqp.Append(nil, kv.Value); err != nil {
			return nil, nil, nil, fmt.Errorf("kafka: property %q of a stored event: %w", name, err)
		}
		headers = append(headers, h)
	}
	return key, value, headers, nil
}
