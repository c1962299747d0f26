package amqp

import (
	"fmt"
)

// Type codes of the AMQP 1.0 type system (part 1.6 of the specification).
const (
	codeDescribed  = 0x00
	codeNull       = 0x40
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeUint0      = 0x43
	codeUlong0     = 0x44
	codeList0      = 0x45
	codeUbyte      = 0x50
	codeByte       = 0x51
	codeSmallUint  = 0x52
	codeSmallUlong = 0x53
	codeSmallInt   = 0x54
	codeSmallLong  = 0x55
	codeBool       = 0x56
	codeUshort     = 0x60
	codeShort      = 0x61
	codeUint       = 0x70
	codeInt        = 0x71
	codeFloat      = 0x72
	codeChar       = 0x73
	codeDecimal32  = 0x74
	codeUlong      = 0x80
	codeLong       = 0x81
	codeDouble     = 0x82
	codeTimestamp  = 0x83
	codeDecimal64  = 0x84
	codeUUID       = 0x98
	codeDecimal128 = 0x94
	codeVbin8      = 0xa0
	codeStr8       = 0xa1
	codeSym8       = 0xa3
	codeVbin32     = 0xb0
	codeStr32      = 0xb1
	codeSym32      = 0xb3
	codeList8      = 0xc0
	codeMap8       = 0xc1
	codeList32     = 0xd0
	codeMap32      = 0xd1
	codeArray8     = 0xe0
	codeArray32    = 0xf0
)

// Symbol is an AMQP symbol: an ASCII name, distinct from a string on the wire.
type Symbol string

// UUID is an AMQP uuid.
type UUID [16]byte

func (u UUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Char is an AMQP char (a UTF-32 code point).
type Char rune

// Decimal keeps an IEEE 754 decimal as its raw bytes: the emulator never
// computes with one, it only has to carry it through.
type Decimal struct {
	Code  byte
	Bytes []byte
}

// Described is a value with a descriptor: a symbol or a ulong code, or a
// value of any other type, which AMQP reserves and peers may still send.
type Described struct {
	Descriptor any
	Value      any
}

// KV is one map entry.
type KV struct {
	Key   any
	Value any
}

// Map is an AMQP map kept as an ordered list of entries: keys may be of any
// type (symbols, ulongs, strings), which a Go map cannot hold uniformly, and
// the order the peer sent is kept for re-encoding.
type Map []KV

// Get returns the value stored under key. Symbol and string keys are matched
// by their text, since clients disagree on which one they send.
func (m Map) Get(key any) (any, bool) {
	for _, kv := range m {
		if keyEqual(kv.Key, key) {
			return kv.Value, true
		}
	}
	return nil, false
}

// Set replaces the value stored under key, or appends it.
func (m Map) Set(key, value any) Map {
	for i := range m {
		if keyEqual(m[i].Key, key) {
			m[i].Value = value
			return m
		}
	}
	return append(m, KV{key, value})
}

// Delete removes key.
func (m Map) Delete(key any) Map {
	for i := range m {
		if keyEqual(m[i].Key, key) {
			return append(m[:i], m[i+1:]...)
		}
	}
	return m
}

func keyEqual(a, b any) bool {
	as, aText := textOf(a)
	bs, bText := textOf(b)
	if aText || bText {
		return aText && bText && as == bs
	}
	return a == b
}

func textOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case Symbol:
		return string(v), true
	}
	return "", false
}

// Array is an AMQP array: every element has the same type. When encoding, the
// element type is taken from the first element.
type Array []any
