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
	expr, found := "", false
	if src != nil {
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
					return 0, amqpErr(condInvalidField, fmt.Sprintf("selector filter holds a %T, want a string", d.Value))
				}
				expr, found = s, true
			}
		}
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
		start = p.log.SeqAtOffset(off, inclusive)
	case "x-opt-sequence-number":
		seq, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return 0, amqpErr(condInvalidField, fmt.Sprintf("the sequence number '%s' is not a number", value))
		}
		start = seq
		if !inclusive {
			start++
		}
		if start > next {
			return 0, amqpErr(condOutOfRange, fmt.Sprintf("The supplied sequence number '%d' is invalid. The last sequence number in the system is '%d'", seq, next-1))
		}
	case "x-opt-enqueued-time":
		ms, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return 0, amqpErr(condInvalidField, fmt.Sprintf("the enqueued time '%s' is not milliseconds since the Unix epoch", value))
		}
		t := time.UnixMilli(ms)
		if inclusive {
			t = t.Add(-time.Millisecond)
		}
		start = p.log.SeqAtTime(t)
	}
	return max(start, begin), nil
}
