package emulator_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// This file holds a strict reader of the frames the emulator writes. It is
// deliberately separate from the emulator's own decoder (emulator/amqp):
// it knows only enough of the type system to find where each value ends,
// so a bug shared by the emulator's encoder and decoder cannot hide here.
// Some official SDKs (Python's pyamqp) read performative fields by
// position, so this reader wants every field the specification defines.

// performativeDef is what the AMQP 1.0 specification defines for one
// performative: its name, how many fields it has, and which must not be
// null.
type performativeDef struct {
	name      string
	sasl      bool // carried in SASL frames (type 1) rather than AMQP frames
	fields    int
	mandatory []int
	errorAt   int // the field holding an error composite, or -1
}

// performativeDefs: AMQP 1.0 part 2.7 (transport) and 5.3.3 (SASL), for the
// frames a server sends.
var performativeDefs = map[uint64]performativeDef{
	0x10: {"open", false, 10, []int{0}, -1},
	0x11: {"begin", false, 8, []int{1, 2, 3}, -1},
	0x12: {"attach", false, 14, []int{0, 1, 2}, -1},
	0x13: {"flow", false, 11, []int{1, 2, 3}, -1},
	0x14: {"transfer", false, 11, []int{0}, -1},
	0x15: {"disposition", false, 6, []int{0, 1}, -1},
	0x16: {"detach", false, 3, []int{0}, 2},
	0x17: {"end", false, 1, nil, 0},
	0x18: {"close", false, 1, nil, 0},
	0x40: {"sasl-mechanisms", true, 1, []int{0}, -1},
	0x44: {"sasl-outcome", true, 2, []int{0}, -1},
}

// errorFields is how many fields an error composite (descriptor 0x1d) has:
// condition, description, info. pyamqp reads info as error[2].
const errorFields = 3

// checkError reads an error composite strictly, like a performative.
func checkError(v wireValue) error {
	b := v.raw
	if len(b) < 3 || b[0] != 0x00 || b[1] != 0x53 || b[2] != 0x1d {
		return fmt.Errorf("error field % x... is not an error composite", b[:min(len(b), 4)])
	}
	fields, rest, err := readList(b[3:])
	switch {
	case err != nil:
		return fmt.Errorf("error composite: %w", err)
	case len(rest) != 0:
		return fmt.Errorf("error composite: %d bytes after its list", len(rest))
	case len(fields) != errorFields:
		return fmt.Errorf("error composite has %d fields, the specification defines %d", len(fields), errorFields)
	case fields[0].isNull():
		return fmt.Errorf("error composite without a condition")
	}
	return nil
}

// wireValue is one encoded value: raw spans its whole encoding, the
// constructor byte first.
type wireValue struct{ raw []byte }

func (v wireValue) isNull() bool { return v.raw[0] == 0x40 }

// uint reads a uint or ulong in any of its encodings.
func (v wireValue) uint() (uint64, bool) {
	switch v.raw[0] {
	case 0x43, 0x44:
		return 0, true
	case 0x52, 0x53:
		return uint64(v.raw[1]), true
	case 0x70:
		return uint64(binary.BigEndian.Uint32(v.raw[1:])), true
	case 0x80:
		return binary.BigEndian.Uint64(v.raw[1:]), true
	}
	return 0, false
}

// bool reads a boolean field; null is its default, false.
func (v wireValue) bool() (bool, error) {
	switch {
	case v.raw[0] == 0x40 || v.raw[0] == 0x42:
		return false, nil
	case v.raw[0] == 0x41:
		return true, nil
	case v.raw[0] == 0x56:
		return v.raw[1] != 0, nil
	}
	return false, fmt.Errorf("constructor 0x%02x is not a boolean", v.raw[0])
}

// valueLen returns how many bytes the value at the start of b spans. The
// high nibble of a constructor says how its width is encoded (AMQP 1.0
// part 1.6, "subcategories").
func valueLen(b []byte, depth int) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("value cut short")
	}
	if b[0] == 0x00 {
		if depth > 16 {
			return 0, fmt.Errorf("descriptors nested too deep")
		}
		d, err := valueLen(b[1:], depth+1)
		if err != nil {
			return 0, fmt.Errorf("descriptor: %w", err)
		}
		v, err := valueLen(b[1+d:], depth+1)
		if err != nil {
			return 0, fmt.Errorf("described value: %w", err)
		}
		return 1 + d + v, nil
	}
	n := 0
	switch b[0] >> 4 {
	case 0x4:
		n = 1
	case 0x5:
		n = 2
	case 0x6:
		n = 3
	case 0x7:
		n = 5
	case 0x8:
		n = 9
	case 0x9:
		n = 17
	case 0xa, 0xc, 0xe:
		if len(b) < 2 {
			return 0, fmt.Errorf("size of 0x%02x cut short", b[0])
		}
		n = 2 + int(b[1])
	case 0xb, 0xd, 0xf:
		if len(b) < 5 {
			return 0, fmt.Errorf("size of 0x%02x cut short", b[0])
		}
		n = 5 + int(binary.BigEndian.Uint32(b[1:]))
	default:
		return 0, fmt.Errorf("constructor 0x%02x is no AMQP type", b[0])
	}
	if n > len(b) {
		return 0, fmt.Errorf("value 0x%02x needs %d bytes, %d left", b[0], n, len(b))
	}
	return n, nil
}

// readList reads a list at the start of b, checking that its count agrees
// with the elements its size holds, and returns the bytes after it.
func readList(b []byte) ([]wireValue, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("no list")
	}
	var count int
	var elems, rest []byte
	switch b[0] {
	case 0x45:
		return nil, b[1:], nil
	case 0xc0:
		if len(b) < 3 || b[1] < 1 || int(b[1]) > len(b)-2 {
			return nil, nil, fmt.Errorf("list8 header cut short or inconsistent")
		}
		count, elems, rest = int(b[2]), b[3:2+int(b[1])], b[2+int(b[1]):]
	case 0xd0:
		if len(b) < 9 {
			return nil, nil, fmt.Errorf("list32 header cut short")
		}
		size := int(binary.BigEndian.Uint32(b[1:]))
		if size < 4 || size > len(b)-5 {
			return nil, nil, fmt.Errorf("list32 size %d inconsistent", size)
		}
		count, elems, rest = int(binary.BigEndian.Uint32(b[5:])), b[9:5+size], b[5+size:]
	default:
		return nil, nil, fmt.Errorf("constructor 0x%02x is not a list", b[0])
	}
	out := make([]wireValue, 0, count)
	for len(elems) > 0 {
		n, err := valueLen(elems, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("list element %d: %w", len(out), err)
		}
		out = append(out, wireValue{elems[:n]})
		elems = elems[n:]
	}
	if len(out) != count {
		return nil, nil, fmt.Errorf("list says %d elements, holds %d", count, len(out))
	}
	return out, rest, nil
}

// wireFrame is one non-empty frame the emulator wrote.
type wireFrame struct {
	typ     byte
	channel uint16
	def     performativeDef
	fields  []wireValue
	payload []byte // after the performative; transfers only
}

// readPerformative reads a frame body strictly: a performative of a known
// descriptor with every field defined, its mandatory fields set, and
// nothing after it except a transfer's payload.
func readPerformative(typ byte, body []byte) (wireFrame, error) {
	f := wireFrame{typ: typ}
	if len(body) < 3 || body[0] != 0x00 {
		return f, fmt.Errorf("body % x... is not a described value", body[:min(len(body), 8)])
	}
	// AMQP allows any ulong encoding, or a symbol, for the descriptor, but
	// pyamqp's frame decoder takes the code from the third byte: only the
	// small-ulong form (0x53) reads right there.
	if body[1] != 0x53 {
		return f, fmt.Errorf("descriptor constructor 0x%02x, want the small ulong 0x53", body[1])
	}
	code, list := uint64(body[2]), body[3:]
	def, ok := performativeDefs[code]
	if !ok {
		return f, fmt.Errorf("descriptor 0x%x is no performative a server sends", code)
	}
	f.def = def
	if def.sasl != (typ == 1) {
		return f, fmt.Errorf("%s in a frame of type %d", def.name, typ)
	}
	fields, rest, err := readList(list)
	if err != nil {
		return f, fmt.Errorf("%s: %w", def.name, err)
	}
	if len(fields) != def.fields {
		return f, fmt.Errorf("%s has %d fields, the specification defines %d", def.name, len(fields), def.fields)
	}
	for _, i := range def.mandatory {
		if fields[i].isNull() {
			return f, fmt.Errorf("%s: mandatory field %d is null", def.name, i)
		}
	}
	if def.errorAt >= 0 && !fields[def.errorAt].isNull() {
		if err := checkError(fields[def.errorAt]); err != nil {
			return f, fmt.Errorf("%s: %w", def.name, err)
		}
	}
	if code != 0x14 && len(rest) != 0 {
		return f, fmt.Errorf("%s: %d bytes after the performative", def.name, len(rest))
	}
	f.fields, f.payload = fields, rest
	return f, nil
}

// frameError is a frame that breaks a rule, by its index on the connection.
type frameError struct {
	frame int
	err   error
}

// readServerStream splits what the emulator wrote on one connection: the
// SASL header and frames up to the outcome, the AMQP header, then AMQP
// frames to the end. Heartbeats (empty frames) are skipped. A frame that
// breaks a rule is reported and left out, and reading goes on, so one run
// shows every kind of fault; a broken frame header ends the reading.
func readServerStream(b []byte) (frames []wireFrame, bad []frameError, err error) {
	header := func(want string) error {
		if !bytes.HasPrefix(b, []byte(want)) {
			return fmt.Errorf("want protocol header %q, got % x", want, b[:min(len(b), 8)])
		}
		b = b[len(want):]
		return nil
	}
	if err := header("AMQP\x03\x01\x00\x00"); err != nil {
		return nil, nil, err
	}
	sasl := true
	for i := 0; len(b) > 0; i++ {
		if len(b) < 8 {
			return frames, bad, fmt.Errorf("frame %d: header cut short: % x", i, b)
		}
		size, doff := int(binary.BigEndian.Uint32(b)), int(b[4])*4
		if size < 8 || doff < 8 || doff > size || size > len(b) {
			return frames, bad, fmt.Errorf("frame %d: size %d, data offset %d, %d bytes left", i, size, doff, len(b))
		}
		typ, body := b[5], b[doff:size]
		channel := binary.BigEndian.Uint16(b[6:])
		b = b[size:]
		if len(body) == 0 {
			continue
		}
		f, err := readPerformative(typ, body)
		if err != nil {
			bad = append(bad, frameError{i, err})
		} else {
			f.channel = channel
			frames = append(frames, f)
		}
		if sasl && typ == 1 && len(body) > 2 && body[2] == 0x44 { // sasl-outcome, even a faulty one
			sasl = false
			if err := header("AMQP\x00\x01\x00\x00"); err != nil {
				return frames, bad, err
			}
		}
	}
	if sasl {
		return frames, bad, fmt.Errorf("the stream ended before the SASL outcome")
	}
	return frames, bad, nil
}

// TestStrictReaderRejectsShortLists proves the reader above fails on what
// AMQP allows but the positional SDKs do not take: trailing fields left out.
func TestStrictReaderRejectsShortLists(t *testing.T) {
	nulls := func(n int) []byte { return bytes.Repeat([]byte{0x40}, n) }
	list8 := func(elems ...[]byte) []byte {
		body := bytes.Join(elems, nil)
		return append([]byte{0xc0, byte(len(body) + 1), byte(len(elems))}, body...)
	}
	perf := func(code byte, list []byte) []byte { return append([]byte{0x00, 0x53, code}, list...) }
	name := []byte{0xa1, 1, 'l'}
	maxSize := []byte{0x80, 0, 0, 0, 0, 0, 0x10, 0, 0}
	fullAttach := list8(name, []byte{0x43}, []byte{0x41}, nulls(7), maxSize, nulls(3))
	fullAttach[2] = 14 // the nulls went in as one slice; count them singly
	for _, c := range []struct {
		name, wantErr string
		typ           byte
		body          []byte
	}{
		{"full end", "", 0, perf(0x17, list8(nulls(1)))},
		{"full attach", "", 0, perf(0x12, fullAttach)},
		{"full transfer with payload", "", 0, append(perf(0x14, append([]byte{0xc0, 12, 11, 0x43}, nulls(10)...)), 0x00, 0x53, 0x75, 0xa0, 0)},
		{"end as an empty list", "end has 0 fields", 0, perf(0x17, []byte{0x45})},
		{"attach up to max-message-size", "attach has 11 fields", 0,
			perf(0x12, append([]byte{0xc0, byte(len(name) + 2 + 7 + len(maxSize) + 1), 11}, bytes.Join([][]byte{name, {0x43, 0x41}, nulls(7), maxSize}, nil)...))},
		{"transfer of 6 fields", "transfer has 6 fields", 0, append(perf(0x14, []byte{0xc0, 7, 6, 0x43, 0x40, 0x40, 0x40, 0x41, 0x42}), 0x00, 0x53, 0x75)},
		{"sasl-outcome of the code only", "sasl-outcome has 1 fields", 1, perf(0x44, []byte{0xc0, 3, 1, 0x50, 0})},
		{"count above the elements", "says 3 elements, holds 1", 0, perf(0x16, []byte{0xc0, 2, 3, 0x43})},
		{"mandatory handle null", "mandatory field 0 is null", 0, perf(0x16, []byte{0xc0, 4, 3, 0x40, 0x40, 0x40})},
		{"bytes after a detach", "1 bytes after", 0, append(perf(0x16, []byte{0xc0, 4, 3, 0x43, 0x40, 0x40}), 0x40)},
		{"sasl frame on an amqp performative", "in a frame of type 1", 1, perf(0x17, list8(nulls(1)))},
		{"detach with a full error", "", 0, perf(0x16, list8([]byte{0x43}, []byte{0x41}, perf(0x1d, list8([]byte{0xa3, 1, 'c'}, nulls(1), nulls(1)))))},
		{"detach with an error of condition and description", "error composite has 2 fields", 0,
			perf(0x16, list8([]byte{0x43}, []byte{0x41}, perf(0x1d, list8([]byte{0xa3, 1, 'c'}, []byte{0xa1, 1, 'd'}))))},
		{"end with an error of no fields", "error composite has 0 fields", 0, perf(0x17, list8(perf(0x1d, []byte{0x45})))},
		{"descriptor as a full ulong", "want the small ulong", 0, append([]byte{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x17}, list8(nulls(1))...)},
	} {
		f, err := readPerformative(c.typ, c.body)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("%s: read as %s with %d fields, want an error", c.name, f.def.name, len(f.fields))
		case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("%s: error %q, want one saying %q", c.name, err, c.wantErr)
		}
	}
}
