package emulator

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// selectorDescriptor is the descriptor of Event Hubs' selector filter.
const selectorDescriptor uint64 = 0x0000468C00000004

var selectorRE = regexp.MustCompile(`^\s*amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>)\s*'([^']*)'\s*$`)

// startSequence resolves a consumer link's selector filter to the sequence
// number of the first event to deliver. Without a filter the link starts at
// the beginning of the stream.
func startSequence(p *partition, src *amqp.Source) (int64, *amqp.Error) {
	begin, next := p.log.Bounds()
	expr, found, e := selectorOf(src)
	if e != nil {
		return 0, e
	}
	if !found {
		return begin, nil
	}
	m := selectorRE.FindStringSubmatch(expr)
	if m == nil {
		return 0, amqpErr(condInvalidField, fmt.Sprintf("unsupported selector filter %q", expr))
	}
	field, inclusive, value := m[1], m[2] == ">=", m[3]
	var start int64
	switch field {
	case "x-opt-offset":
		start, e = startAtOffset(p, value, inclusive, begin, next)
	case "x-opt-sequence-number":
		start, e = startAtSequence(value, inclusive, next)
	case "x-opt-enqueued-time":
		start, e = startAtTime(p, value, inclusive)
	}
	if e != nil {
		return 0, e
	}
	return max(start, begin), nil
}

// selectorOf is the expression of src's selector filter (the last, if
// there are several); found is false when it has none.
func selectorOf(src *amqp.Source) (expr string, found bool, e *amqp.Error) {
	if src == nil {
		return "", false, nil
	}
	for _, kv := range src.Filter {
		d, ok := kv.Value.(amqp.Described)
		if !ok {
			continue
		}
		code, isCode := d.Descriptor.(uint64)
		sym, isSym := d.Descriptor.(amqp.Symbol)
		if (isCode && code == selectorDescriptor) || (isSym && sym == "apache.org:selector-filter:string") {
			s, ok := d.Value.(string)
			if !ok {
				return "", false, amqpErr(condInvalidField, fmt.Sprintf("selector filter holds a %T, want a string", d.Value))
			}
			expr, found = s, true
		}
	}
	return expr, found, nil
}

// startAtOffset is the first sequence number after (inclusive: at) the
// offset value, which may also be "-1" (the start) or "@latest" (the end).
func startAtOffset(p *partition, value string, inclusive bool, begin, next int64) (int64, *amqp.Error) {
	switch value {
	case "-1":
		return begin, nil
	case "@latest":
		return next, nil
	}
	off, err := strconv.ParseInt(value, 10, 64)
	if err != nil || off < 0 {
		return 0, amqpErr(condInvalidField, fmt.Sprintf("the offset '%s' is not valid: offsets are decimal numbers, '-1' or '@latest'", value))
	}
	return p.log.SeqAtOffset(off, inclusive), nil
}

// startAtSequence is the sequence number after (inclusive: at) value; the
// service refuses one past the end of the partition.
func startAtSequence(value string, inclusive bool, next int64) (int64, *amqp.Error) {
	seq, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, amqpErr(condInvalidField, fmt.Sprintf("the sequence number '%s' is not a number", value))
	}
	start := seq
	if !inclusive {
		start++
	}
	if start > next {
		return 0, amqpErr(condOutOfRange, fmt.Sprintf("The supplied sequence number '%d' is invalid. The last sequence number in the system is '%d'", seq, next-1))
	}
	return start, nil
}

// startAtTime is the first sequence number enqueued after (inclusive: at)
// value, milliseconds since the Unix epoch.
func startAtTime(p *partition, value string, inclusive bool) (int64, *amqp.Error) {
	ms, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, amqpErr(condInvalidField, fmt.Sprintf("the enqueued time '%s' is not milliseconds since the Unix epoch", value))
	}
	t := time.UnixMilli(ms)
	if inclusive {
		t = t.Add(-time.Millisecond)
	}
	return p.log.SeqAtTime(t), nil
}
