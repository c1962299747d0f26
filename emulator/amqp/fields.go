package amqp

import "unicode/utf8"

// fields reads the positional fields of a described list (a performative, a
// source, an error...) with type checks that name the field on failure.
type fields struct {
	what string
	list []any
	err  error
}

func (f *fields) get(i int) any {
	if i < len(f.list) {
		return f.list[i]
	}
	return nil
}

func (f *fields) fail(i int, want string, v any) {
	if f.err == nil {
		f.err = decodeErr("%s field %d: want %s, got %T", f.what, i, want, v)
	}
}

func (f *fields) uint32(i int, def uint32) uint32 {
	switch v := f.get(i).(type) {
	case nil:
		return def
	case uint32:
		return v
	case uint8:
		return uint32(v)
	case uint16:
		return uint32(v)
	default:
		f.fail(i, "uint", v)
	}
	return def
}

func (f *fields) optUint32(i int) *uint32 {
	if f.get(i) == nil {
		return nil
	}
	v := f.uint32(i, 0)
	return &v
}

func (f *fields) uint64(i int, def uint64) uint64 {
	switch v := f.get(i).(type) {
	case nil:
		return def
	case uint64:
		return v
	case uint32:
		return uint64(v)
	case uint8:
		return uint64(v)
	case uint16:
		return uint64(v)
	default:
		f.fail(i, "ulong", v)
	}
	return def
}

func (f *fields) uint16(i int, def uint16) uint16 {
	switch v := f.get(i).(type) {
	case nil:
		return def
	case uint16:
		return v
	case uint8:
		return uint16(v)
	default:
		f.fail(i, "ushort", v)
	}
	return def
}

func (f *fields) optUint16(i int) *uint16 {
	if f.get(i) == nil {
		return nil
	}
	v := f.uint16(i, 0)
	return &v
}

func (f *fields) ubyte(i int, def uint8) uint8 {
	switch v := f.get(i).(type) {
	case nil:
		return def
	case uint8:
		return v
	default:
		f.fail(i, "ubyte", v)
	}
	return def
}

func (f *fields) optUbyte(i int) *uint8 {
	if f.get(i) == nil {
		return nil
	}
	v := f.ubyte(i, 0)
	return &v
}

func (f *fields) bool(i int, def bool) bool {
	switch v := f.get(i).(type) {
	case nil:
		return def
	case bool:
		return v
	default:
		f.fail(i, "boolean", v)
	}
	return def
}

func (f *fields) string(i int) string {
	switch v := f.get(i).(type) {
	case nil:
		return ""
	case string:
		return v
	case Symbol:
		// Strings are checked when decoded; a symbol standing in for one
		// must be too, or re-encoding it would write an invalid string.
		if !utf8.ValidString(string(v)) {
			f.fail(i, "UTF-8 text", v)
			return ""
		}
		return string(v)
	default:
		f.fail(i, "string", v)
	}
	return ""
}

func (f *fields) symbol(i int) Symbol {
	if s, ok := f.get(i).(Symbol); ok {
		return s
	}
	return Symbol(f.string(i))
}

func (f *fields) binary(i int) []byte {
	switch v := f.get(i).(type) {
	case nil:
		return nil
	case []byte:
		return v
	default:
		f.fail(i, "binary", v)
	}
	return nil
}

func (f *fields) mapValue(i int) Map {
	switch v := f.get(i).(type) {
	case nil:
		return nil
	case Map:
		return v
	default:
		f.fail(i, "map", v)
	}
	return nil
}

// symbols accepts a single symbol or an array of them, as the specification
// allows for "multiple" fields.
func (f *fields) symbols(i int) []Symbol {
	switch v := f.get(i).(type) {
	case nil:
		return nil
	case Symbol:
		return []Symbol{v}
	case Array:
		out := make([]Symbol, 0, len(v))
		for _, e := range v {
			s, ok := e.(Symbol)
			if !ok {
				f.fail(i, "symbol array", e)
				return nil
			}
			out = append(out, s)
		}
		return out
	default:
		f.fail(i, "symbols", v)
	}
	return nil
}

// described decodes field i as a composite of the given descriptor.
func (f *fields) described(i int, want uint64, name string) *fields {
	switch v := f.get(i).(type) {
	case nil:
		return nil
	case Described:
		code, ok := descriptorCode(v.Descriptor)
		list, isList := v.Value.([]any)
		if !ok || code != want || !isList {
			f.fail(i, name, v.Descriptor)
			return nil
		}
		return &fields{what: name, list: list}
	default:
		f.fail(i, name, v)
	}
	return nil
}

// trim drops trailing nulls, which the specification lets an encoder omit.
func trim(list []any) []any {
	for len(list) > 0 && list[len(list)-1] == nil {
		list = list[:len(list)-1]
	}
	return list
}

// appendComposite writes a composite inside a performative (source, target,
// delivery state) as short as the specification allows; pyamqp reads
// source and target into records that default the missing fields.
func appendComposite(b []byte, code uint64, list []any) ([]byte, error) {
	b = AppendDescriptor(b, code)
	return AppendList(b, trim(list))
}

// appendAllFields writes a performative, or an error, with every field its
// definition has, nulls included, as the service does: AMQP lets trailing
// nulls go, but some SDKs (Python's pyamqp) read these fields by position
// (an error's info is error[2]) and fail on a shorter list. The decoder
// still takes short lists from clients.
func appendAllFields(b []byte, code uint64, list []any) ([]byte, error) {
	b = AppendDescriptor(b, code)
	return AppendList(b, list)
}

// descriptorCode maps symbolic descriptors of the types the emulator knows to
// their numeric codes.
func descriptorCode(d any) (uint64, bool) {
	switch d := d.(type) {
	case uint64:
		return d, true
	case Symbol:
		c, ok := symbolicDescriptors[d]
		return c, ok
	}
	return 0, false
}

var symbolicDescriptors = map[Symbol]uint64{
	"amqp:open:list": 0x10, "amqp:begin:list": 0x11, "amqp:attach:list": 0x12,
	"amqp:flow:list": 0x13, "amqp:transfer:list": 0x14, "amqp:disposition:list": 0x15,
	"amqp:detach:list": 0x16, "amqp:end:list": 0x17, "amqp:close:list": 0x18,
	"amqp:error:list": 0x1d, "amqp:received:list": 0x23, "amqp:accepted:list": 0x24,
	"amqp:rejected:list": 0x25, "amqp:released:list": 0x26, "amqp:modified:list": 0x27,
	"amqp:source:list": 0x28, "amqp:target:list": 0x29,
	"amqp:sasl-mechanisms:list": 0x40, "amqp:sasl-init:list": 0x41,
	"amqp:sasl-challenge:list": 0x42, "amqp:sasl-response:list": 0x43, "amqp:sasl-outcome:list": 0x44,
	"amqp:header:list": 0x70, "amqp:delivery-annotations:map": 0x71,
	"amqp:message-annotations:map": 0x72, "amqp:properties:list": 0x73,
	"amqp:application-properties:map": 0x74, "amqp:data:binary": 0x75,
	"amqp:amqp-sequence:list": 0x76, "amqp:amqp-value:*": 0x77, "amqp:footer:map": 0x78,
}

func optU32(p *uint32) any {
	if p == nil {
		return nil
	}
	return *p
}

func nonZeroU32(v, def uint32) any {
	if v == def {
		return nil
	}
	return v
}

func symbolsValue(s []Symbol) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

func mapOrNil(m Map) any {
	if m == nil {
		return nil
	}
	return m
}
