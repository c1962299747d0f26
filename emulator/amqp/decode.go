package amqp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// maxDepth bounds how deeply compound values may nest, so a hostile frame of
// nested lists cannot exhaust the stack.
const maxDepth = 32

// ErrDecode is wrapped by every decoding error.
var ErrDecode = errors.New("amqp: decode error")

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
}

// Decoder reads AMQP values from a byte slice. It never reads past the slice
// and never allocates more than the input can justify.
type Decoder struct {
	b     []byte
	pos   int
	depth int
}

// NewDecoder returns a decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Len is how many bytes are left.
func (d *Decoder) Len() int { return len(d.b) - d.pos }

// Pos is how many bytes have been consumed.
func (d *Decoder) Pos() int { return d.pos }

// Rest returns the bytes not consumed yet.
func (d *Decoder) Rest() []byte { return d.b[d.pos:] }

func (d *Decoder) take(n int) ([]byte, error) {
	if n < 0 || n > d.Len() {
		return nil, decodeErr("need %d bytes at %d, have %d", n, d.pos, d.Len())
	}
	p := d.b[d.pos : d.pos+n]
	d.pos += n
	return p, nil
}

func (d *Decoder) byte() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, decodeErr("unexpected end of data at %d", d.pos)
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

// PeekCode returns the next constructor byte without consuming it.
func (d *Decoder) PeekCode() (byte, bool) {
	if d.pos >= len(d.b) {
		return 0, false
	}
	return d.b[d.pos], true
}

// Value decodes the next value.
func (d *Decoder) Value() (any, error) {
	code, err := d.byte()
	if err != nil {
		return nil, err
	}
	if code == codeDescribed {
		return d.described()
	}
	return d.valueOf(code)
}

func (d *Decoder) described() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	// AMQP 1.0 (part 1, 1.5) defines symbol and ulong descriptors and
	// calls the others reserved, not invalid: pyamqp sends a binary one
	// (the security_token of its $management requests). They decode;
	// whatever reads a described value checks for the descriptor it wants.
	desc, err := d.Value()
	if err != nil {
		return nil, err
	}
	v, err := d.Value()
	if err != nil {
		return nil, err
	}
	return Described{Descriptor: desc, Value: v}, nil
}

func (d *Decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return decodeErr("values nested deeper than %d", maxDepth)
	}
	return nil
}

func (d *Decoder) leave() { d.depth-- }

func (d *Decoder) fixed(n int) ([]byte, error) { return d.take(n) }

// valueOf decodes a value whose constructor byte has been read already.
func (d *Decoder) valueOf(code byte) (any, error) {
	switch code {
	case codeNull:
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		b, err := d.byte()
		if err != nil {
			return nil, err
		}
		switch b {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, decodeErr("boolean byte 0x%02x", b)
	case codeUint0:
		return uint32(0), nil
	case codeUlong0:
		return uint64(0), nil
	case codeUbyte:
		b, err := d.byte()
		return b, err
	case codeByte:
		b, err := d.byte()
		return int8(b), err
	case codeSmallUint:
		b, err := d.byte()
		return uint32(b), err
	case codeSmallUlong:
		b, err := d.byte()
		return uint64(b), err
	case codeSmallInt:
		b, err := d.byte()
		return int32(int8(b)), err
	case codeSmallLong:
		b, err := d.byte()
		return int64(int8(b)), err
	case codeUshort:
		p, err := d.fixed(2)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint16(p), nil
	case codeShort:
		p, err := d.fixed(2)
		if err != nil {
			return nil, err
		}
		return int16(binary.BigEndian.Uint16(p)), nil
	case codeUint:
		p, err := d.fixed(4)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint32(p), nil
	case codeInt:
		p, err := d.fixed(4)
		if err != nil {
			return nil, err
		}
		return int32(binary.BigEndian.Uint32(p)), nil
	case codeFloat:
		p, err := d.fixed(4)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(p)), nil
	case codeChar:
		p, err := d.fixed(4)
		if err != nil {
			return nil, err
		}
		return Char(binary.BigEndian.Uint32(p)), nil
	case codeUlong:
		p, err := d.fixed(8)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint64(p), nil
	case codeLong:
		p, err := d.fixed(8)
		if err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(p)), nil
	case codeDouble:
		p, err := d.fixed(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case codeTimestamp:
		p, err := d.fixed(8)
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(int64(binary.BigEndian.Uint64(p))).UTC(), nil
	case codeDecimal32, codeDecimal64, codeDecimal128:
		n := map[byte]int{codeDecimal32: 4, codeDecimal64: 8, codeDecimal128: 16}[code]
		p, err := d.fixed(n)
		if err != nil {
			return nil, err
		}
		return Decimal{Code: code, Bytes: append([]byte(nil), p...)}, nil
	case codeUUID:
		p, err := d.fixed(16)
		if err != nil {
			return nil, err
		}
		var u UUID
		copy(u[:], p)
		return u, nil
	case codeVbin8, codeVbin32:
		p, err := d.variable(code == codeVbin32)
		if err != nil {
			return nil, err
		}
		return append([]byte(nil), p...), nil
	case codeStr8, codeStr32:
		p, err := d.variable(code == codeStr32)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(p) {
			return nil, decodeErr("string is not valid UTF-8")
		}
		return string(p), nil
	case codeSym8, codeSym32:
		p, err := d.variable(code == codeSym32)
		if err != nil {
			return nil, err
		}
		return Symbol(p), nil
	case codeList0:
		return []any(nil), nil
	case codeList8, codeList32:
		return d.list(code == codeList32)
	case codeMap8, codeMap32:
		return d.mapValue(code == codeMap32)
	case codeArray8, codeArray32:
		return d.array(code == codeArray32)
	}
	return nil, decodeErr("unknown type code 0x%02x at %d", code, d.pos-1)
}

func (d *Decoder) length(wide bool) (int, error) {
	if wide {
		p, err := d.fixed(4)
		if err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(p)
		if int64(n) > int64(d.Len()) {
			return 0, decodeErr("length %d exceeds the %d bytes left", n, d.Len())
		}
		return int(n), nil
	}
	b, err := d.byte()
	if err != nil {
		return 0, err
	}
	if int(b) > d.Len() {
		return 0, decodeErr("length %d exceeds the %d bytes left", b, d.Len())
	}
	return int(b), nil
}

func (d *Decoder) variable(wide bool) ([]byte, error) {
	n, err := d.length(wide)
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

// compound reads the size and count of a list, map or array and returns a
// decoder limited to its body, so a wrong count cannot read past the value.
func (d *Decoder) compound(wide bool) (*Decoder, int, error) {
	size, err := d.length(wide)
	if err != nil {
		return nil, 0, err
	}
	body, err := d.take(size)
	if err != nil {
		return nil, 0, err
	}
	sub := &Decoder{b: body, depth: d.depth}
	var count int
	if wide {
		p, err := sub.fixed(4)
		if err != nil {
			return nil, 0, err
		}
		n := binary.BigEndian.Uint32(p)
		// No valid count comes near this, and int(n) would be negative
		// on 32-bit platforms, where make would panic.
		if n > math.MaxInt32 {
			return nil, 0, decodeErr("element count %d", n)
		}
		count = int(n)
	} else {
		b, err := sub.byte()
		if err != nil {
			return nil, 0, err
		}
		count = int(b)
	}
	return sub, count, nil
}

func (d *Decoder) list(wide bool) (any, error) {
	sub, count, err := d.compound(wide)
	if err != nil {
		return nil, err
	}
	if err := sub.enter(); err != nil {
		return nil, err
	}
	// Every element takes at least one byte: a count beyond that is a lie.
	if count > sub.Len() {
		return nil, decodeErr("list of %d elements in %d bytes", count, sub.Len())
	}
	items := make([]any, count)
	for i := range items {
		if items[i], err = sub.Value(); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func (d *Decoder) mapValue(wide bool) (any, error) {
	sub, count, err := d.compound(wide)
	if err != nil {
		return nil, err
	}
	if err := sub.enter(); err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, decodeErr("map with an odd number (%d) of elements", count)
	}
	if count > sub.Len() {
		return nil, decodeErr("map of %d elements in %d bytes", count, sub.Len())
	}
	m := make(Map, 0, count/2)
	for i := 0; i < count; i += 2 {
		k, err := sub.Value()
		if err != nil {
			return nil, err
		}
		v, err := sub.Value()
		if err != nil {
			return nil, err
		}
		m = append(m, KV{k, v})
	}
	return m, nil
}

func (d *Decoder) array(wide bool) (any, error) {
	sub, count, err := d.compound(wide)
	if err != nil {
		return nil, err
	}
	if err := sub.enter(); err != nil {
		return nil, err
	}
	code, err := sub.byte()
	if err != nil {
		return nil, err
	}
	var descriptor any
	if code == codeDescribed {
		if descriptor, err = sub.Value(); err != nil {
			return nil, err
		}
		if code, err = sub.byte(); err != nil {
			return nil, err
		}
	}
	if code == codeDescribed {
		return nil, decodeErr("array element constructor is described twice")
	}
	// Zero-width elements (null, true, uint0, ...) could claim billions of
	// elements in a few bytes; cap them like every other array.
	if count > sub.Len() && !(count <= 1<<16 && zeroWidth(code)) {
		return nil, decodeErr("array of %d elements in %d bytes", count, sub.Len())
	}
	items := make(Array, count)
	for i := range items {
		v, err := sub.valueOf(code)
		if err != nil {
			return nil, err
		}
		if descriptor != nil {
			v = Described{Descriptor: descriptor, Value: v}
		}
		items[i] = v
	}
	return items, nil
}

func zeroWidth(code byte) bool {
	switch code {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return true
	}
	return false
}

// Skip advances past the next value without building it. It checks sizes,
// not contents: message sections are split with it on the hot path.
func (d *Decoder) Skip() error {
	code, err := d.byte()
	if err != nil {
		return err
	}
	if code == codeDescribed {
		if err := d.enter(); err != nil {
			return err
		}
		defer d.leave()
		if err := d.Skip(); err != nil {
			return err
		}
		return d.Skip()
	}
	return d.skipOf(code)
}

func (d *Decoder) skipOf(code byte) error {
	var n int
	switch code {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return nil
	case codeUbyte, codeByte, codeSmallUint, codeSmallUlong, codeSmallInt, codeSmallLong, codeBool:
		n = 1
	case codeUshort, codeShort:
		n = 2
	case codeUint, codeInt, codeFloat, codeChar, codeDecimal32:
		n = 4
	case codeUlong, codeLong, codeDouble, codeTimestamp, codeDecimal64:
		n = 8
	case codeUUID, codeDecimal128:
		n = 16
	case codeVbin8, codeStr8, codeSym8, codeList8, codeMap8, codeArray8:
		l, err := d.length(false)
		if err != nil {
			return err
		}
		n = l
	case codeVbin32, codeStr32, codeSym32, codeList32, codeMap32, codeArray32:
		l, err := d.length(true)
		if err != nil {
			return err
		}
		n = l
	default:
		return decodeErr("unknown type code 0x%02x at %d", code, d.pos-1)
	}
	_, err := d.take(n)
	return err
}

// Unmarshal decodes exactly one value from b.
func Unmarshal(b []byte) (any, error) {
	d := NewDecoder(b)
	v, err := d.Value()
	if err != nil {
		return nil, err
	}
	if d.Len() != 0 {
		return nil, decodeErr("%d bytes after the value", d.Len())
	}
	return v, nil
}
