package amqp

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"
)

// The Append* functions append one encoded value to b and return the result,
// choosing the smallest encoding, in the style of strconv.Append*.

func AppendNull(b []byte) []byte { return append(b, codeNull) }

func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, codeTrue)
	}
	return append(b, codeFalse)
}

func AppendUbyte(b []byte, v uint8) []byte { return append(b, codeUbyte, v) }

func AppendUshort(b []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, codeUshort), v)
}

func AppendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, codeUint0)
	case v < 256:
		return append(b, codeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, codeUint), v)
}

func AppendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, codeUlong0)
	case v < 256:
		return append(b, codeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUlong), v)
}

func AppendByte(b []byte, v int8) []byte { return append(b, codeByte, byte(v)) }

func AppendShort(b []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(b, codeShort), uint16(v))
}

func AppendInt(b []byte, v int32) []byte {
	if v >= -128 && v <= 127 {
		return append(b, codeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, codeInt), uint32(v))
}

func AppendLong(b []byte, v int64) []byte {
	if v >= -128 && v <= 127 {
		return append(b, codeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, codeLong), uint64(v))
}

func AppendTimestamp(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, codeTimestamp), uint64(t.UnixMilli()))
}

func AppendString(b []byte, s string) []byte {
	if len(s) < 256 {
		return append(append(b, codeStr8, byte(len(s))), s...)
	}
	return append(binary.BigEndian.AppendUint32(append(b, codeStr32), uint32(len(s))), s...)
}

func AppendSymbol(b []byte, s Symbol) []byte {
	if len(s) < 256 {
		return append(append(b, codeSym8, byte(len(s))), s...)
	}
	return append(binary.BigEndian.AppendUint32(append(b, codeSym32), uint32(len(s))), s...)
}

func AppendBinary(b []byte, p []byte) []byte {
	if len(p) < 256 {
		return append(append(b, codeVbin8, byte(len(p))), p...)
	}
	return append(binary.BigEndian.AppendUint32(append(b, codeVbin32), uint32(len(p))), p...)
}

// AppendDescriptor starts a described value with a ulong descriptor; the
// caller appends the value next.
func AppendDescriptor(b []byte, code uint64) []byte {
	return AppendUlong(append(b, codeDescribed), code)
}

// compound32 writes a 32-bit list or map header with placeholders; finish
// fills in size and count once the elements are written.
func compound32(b []byte, code byte) ([]byte, int) {
	b = append(b, code, 0, 0, 0, 0, 0, 0, 0, 0)
	return b, len(b) - 8
}

func finishCompound32(b []byte, at int, count int) []byte {
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	binary.BigEndian.PutUint32(b[at+4:], uint32(count))
	return b
}

// AppendList encodes items as a list.
func AppendList(b []byte, items []any) ([]byte, error) {
	if len(items) == 0 {
		return append(b, codeList0), nil
	}
	b, at := compound32(b, codeList32)
	var err error
	for _, it := range items {
		if b, err = Append(b, it); err != nil {
			return nil, err
		}
	}
	return finishCompound32(b, at, len(items)), nil
}

// AppendMap encodes m as a map.
func AppendMap(b []byte, m Map) ([]byte, error) {
	b, at := compound32(b, codeMap32)
	var err error
	for _, kv := range m {
		if b, err = Append(b, kv.Key); err != nil {
			return nil, err
		}
		if b, err = Append(b, kv.Value); err != nil {
			return nil, err
		}
	}
	return finishCompound32(b, at, 2*len(m)), nil
}

// AppendArray encodes items as an array whose element type is that of the
// first element; every type the decoder produces can be an element.
func AppendArray(b []byte, items Array) ([]byte, error) {
	if len(items) == 0 {
		// An empty array still needs an element constructor; null is the
		// cheapest that every decoder accepts.
		return append(b, codeArray8, 2, 0, codeNull), nil
	}
	b, at := compound32(b, codeArray32)
	var desc any
	if d, ok := items[0].(Described); ok {
		desc = d.Descriptor
		b = append(b, codeDescribed)
		var err error
		if b, err = Append(b, desc); err != nil {
			return nil, err
		}
	}
	codeAt := len(b)
	b = append(b, 0)
	var code byte
	for i, it := range items {
		if desc != nil {
			d, ok := it.(Described)
			if !ok || !reflect.DeepEqual(d.Descriptor, desc) {
				return nil, fmt.Errorf("amqp: array mixes described values with other elements")
			}
			it = d.Value
		}
		c, nb, err := appendWide(b, it)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			code = c
		} else if c != code {
			return nil, fmt.Errorf("amqp: array mixes %T with elements of another type", it)
		}
		b = nb
	}
	b[codeAt] = code
	return finishCompound32(b, at, len(items)), nil
}

// appendWide appends v without its constructor, in the one fixed encoding
// its type has inside an array, and returns that encoding's code.
func appendWide(b []byte, v any) (byte, []byte, error) {
	switch v := v.(type) {
	case nil:
		return codeNull, b, nil
	case bool:
		if v {
			return codeBool, append(b, 1), nil
		}
		return codeBool, append(b, 0), nil
	case uint8:
		return codeUbyte, append(b, v), nil
	case int8:
		return codeByte, append(b, byte(v)), nil
	case uint16:
		return codeUshort, binary.BigEndian.AppendUint16(b, v), nil
	case int16:
		return codeShort, binary.BigEndian.AppendUint16(b, uint16(v)), nil
	case uint32:
		return codeUint, binary.BigEndian.AppendUint32(b, v), nil
	case int32:
		return codeInt, binary.BigEndian.AppendUint32(b, uint32(v)), nil
	case uint64:
		return codeUlong, binary.BigEndian.AppendUint64(b, v), nil
	case int64:
		return codeLong, binary.BigEndian.AppendUint64(b, uint64(v)), nil
	case int:
		return codeLong, binary.BigEndian.AppendUint64(b, uint64(v)), nil
	case float32:
		return codeFloat, binary.BigEndian.AppendUint32(b, math.Float32bits(v)), nil
	case float64:
		return codeDouble, binary.BigEndian.AppendUint64(b, math.Float64bits(v)), nil
	case Char:
		return codeChar, binary.BigEndian.AppendUint32(b, uint32(v)), nil
	case time.Time:
		return codeTimestamp, binary.BigEndian.AppendUint64(b, uint64(v.UnixMilli())), nil
	case UUID:
		return codeUUID, append(b, v[:]...), nil
	case Decimal:
		return v.Code, append(b, v.Bytes...), nil
	case []byte:
		return codeVbin32, append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...), nil
	case string:
		return codeStr32, append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...), nil
	case Symbol:
		return codeSym32, append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...), nil
	case []any:
		if len(v) == 0 {
			return codeList32, append(b, 0, 0, 0, 4, 0, 0, 0, 0), nil
		}
		nb, err := AppendList(b, v)
		return codeList32, stripCode(b, nb), err
	case Map:
		nb, err := AppendMap(b, v)
		return codeMap32, stripCode(b, nb), err
	case Array:
		if len(v) == 0 {
			return codeArray32, append(b, 0, 0, 0, 5, 0, 0, 0, 0, codeNull), nil
		}
		nb, err := AppendArray(b, v)
		return codeArray32, stripCode(b, nb), err
	}
	return 0, nil, fmt.Errorf("amqp: cannot encode %T in an array", v)
}

// stripCode removes the constructor byte that Append wrote at len(before).
func stripCode(before, after []byte) []byte {
	if len(after) <= len(before) {
		return after
	}
	return append(after[:len(before)], after[len(before)+1:]...)
}

// Marshaler is implemented by values that encode themselves (performatives).
type Marshaler interface {
	AppendAMQP(b []byte) ([]byte, error)
}

// Append encodes any value of the types Unmarshal produces, plus int, []string
// and []Symbol (as arrays) for convenience.
func Append(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return AppendNull(b), nil
	case bool:
		return AppendBool(b, v), nil
	case uint8:
		return AppendUbyte(b, v), nil
	case uint16:
		return AppendUshort(b, v), nil
	case uint32:
		return AppendUint(b, v), nil
	case uint64:
		return AppendUlong(b, v), nil
	case int8:
		return AppendByte(b, v), nil
	case int16:
		return AppendShort(b, v), nil
	case int32:
		return AppendInt(b, v), nil
	case int64:
		return AppendLong(b, v), nil
	case int:
		return AppendLong(b, int64(v)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, codeFloat), math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, codeDouble), math.Float64bits(v)), nil
	case Char:
		return binary.BigEndian.AppendUint32(append(b, codeChar), uint32(v)), nil
	case time.Time:
		return AppendTimestamp(b, v), nil
	case UUID:
		return append(append(b, codeUUID), v[:]...), nil
	case []byte:
		return AppendBinary(b, v), nil
	case string:
		return AppendString(b, v), nil
	case Symbol:
		return AppendSymbol(b, v), nil
	case Decimal:
		return append(append(b, v.Code), v.Bytes...), nil
	case []any:
		return AppendList(b, v)
	case Map:
		return AppendMap(b, v)
	case Array:
		return AppendArray(b, v)
	case []string:
		if len(v) == 0 {
			// Keep the element type: go-amqp cannot decode an empty array
			// whose constructor is null.
			return append(b, codeArray8, 2, 0, codeStr8), nil
		}
		a := make(Array, len(v))
		for i, s := range v {
			a[i] = s
		}
		return AppendArray(b, a)
	case []Symbol:
		if len(v) == 0 {
			return append(b, codeArray8, 2, 0, codeSym8), nil
		}
		a := make(Array, len(v))
		for i, s := range v {
			a[i] = s
		}
		return AppendArray(b, a)
	case Described:
		var err error
		b = append(b, codeDescribed)
		if b, err = Append(b, v.Descriptor); err != nil {
			return nil, err
		}
		return Append(b, v.Value)
	case Marshaler:
		return v.AppendAMQP(b)
	}
	return nil, fmt.Errorf("amqp: cannot encode a value of type %T", v)
}
