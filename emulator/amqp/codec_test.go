package amqp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// enc encodes v or fails the test.
func enc(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Append(nil, v)
	if err != nil {
		t.Fatalf("Append(%#v): %v", v, err)
	}
	return b
}

// mustDecode decodes b as exactly one value or fails the test.
func mustDecode(t testing.TB, b []byte) any {
	t.Helper()
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal(% x): %v", b, err)
	}
	return v
}

// wantDecodeErr checks that err is a decoding error.
func wantDecodeErr(t testing.TB, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if !errors.Is(err, ErrDecode) {
		t.Fatalf("%s: error %q does not wrap ErrDecode", what, err)
	}
}

// unmarshalNoPanic is Unmarshal with a panic turned into a test failure
// that names the input.
func unmarshalNoPanic(t testing.TB, b []byte) (v any, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Unmarshal(% x) panicked: %v", b, r)
		}
	}()
	return Unmarshal(b)
}

// hasNaN reports whether a NaN float is anywhere inside v: NaN != NaN, so
// values holding one cannot be compared with reflect.DeepEqual.
func hasNaN(v any) bool { return reflectHasNaN(reflect.ValueOf(v), 0) }

func reflectHasNaN(v reflect.Value, depth int) bool {
	if !v.IsValid() || depth > 1000 {
		return false
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.IsNaN(v.Float())
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && reflectHasNaN(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := 0; i < v.Len(); i++ {
			if reflectHasNaN(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return false
		}
		for i := 0; i < v.NumField(); i++ {
			if reflectHasNaN(v.Field(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if reflectHasNaN(it.Key(), depth+1) || reflectHasNaN(it.Value(), depth+1) {
				return true
			}
		}
	}
	return false
}

// canonEmpty rewrites the one legitimate difference a decode/encode/decode
// cycle can show: an empty list decodes as []any(nil) from list0 but as
// []any{} from an explicit list8/list32, and an encoder always writes list0
// (or, inside an array, a list32 with no elements).
func canonEmpty(v any) any {
	switch v := v.(type) {
	case []any:
		if len(v) == 0 {
			return []any(nil)
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = canonEmpty(e)
		}
		return out
	case Array:
		out := make(Array, len(v))
		for i, e := range v {
			out[i] = canonEmpty(e)
		}
		return out
	case Map:
		out := make(Map, len(v))
		for i, kv := range v {
			out[i] = KV{canonEmpty(kv.Key), canonEmpty(kv.Value)}
		}
		return out
	case Described:
		return Described{canonEmpty(v.Descriptor), canonEmpty(v.Value)}
	}
	return v
}

type codecCase struct {
	name string
	v    any
	want any  // the decoded value when it differs from v
	code byte // the constructor Append must choose
	size int  // the encoded size, 0 to skip the check
}

func scalarCases() []codecCase {
	ts := time.UnixMilli(1700000000123).UTC()
	return []codecCase{
		{"null", nil, nil, codeNull, 1},
		{"true", true, nil, codeTrue, 1},
		{"false", false, nil, codeFalse, 1},
		{"ubyte 0", uint8(0), nil, codeUbyte, 2},
		{"ubyte max", uint8(255), nil, codeUbyte, 2},
		{"ushort 0", uint16(0), nil, codeUshort, 3},
		{"ushort max", uint16(math.MaxUint16), nil, codeUshort, 3},
		{"uint 0", uint32(0), nil, codeUint0, 1},
		{"uint 1", uint32(1), nil, codeSmallUint, 2},
		{"uint 255", uint32(255), nil, codeSmallUint, 2},
		{"uint 256", uint32(256), nil, codeUint, 5},
		{"uint max", uint32(math.MaxUint32), nil, codeUint, 5},
		{"ulong 0", uint64(0), nil, codeUlong0, 1},
		{"ulong 255", uint64(255), nil, codeSmallUlong, 2},
		{"ulong 256", uint64(256), nil, codeUlong, 9},
		{"ulong max", uint64(math.MaxUint64), nil, codeUlong, 9},
		{"byte min", int8(math.MinInt8), nil, codeByte, 2},
		{"byte max", int8(math.MaxInt8), nil, codeByte, 2},
		{"byte 0", int8(0), nil, codeByte, 2},
		{"short min", int16(math.MinInt16), nil, codeShort, 3},
		{"short max", int16(math.MaxInt16), nil, codeShort, 3},
		{"int 0", int32(0), nil, codeSmallInt, 2},
		{"int -128", int32(-128), nil, codeSmallInt, 2},
		{"int 127", int32(127), nil, codeSmallInt, 2},
		{"int -129", int32(-129), nil, codeInt, 5},
		{"int 128", int32(128), nil, codeInt, 5},
		{"int min", int32(math.MinInt32), nil, codeInt, 5},
		{"int max", int32(math.MaxInt32), nil, codeInt, 5},
		{"long 0", int64(0), nil, codeSmallLong, 2},
		{"long -128", int64(-128), nil, codeSmallLong, 2},
		{"long 127", int64(127), nil, codeSmallLong, 2},
		{"long -129", int64(-129), nil, codeLong, 9},
		{"long 128", int64(128), nil, codeLong, 9},
		{"long min", int64(math.MinInt64), nil, codeLong, 9},
		{"long max", int64(math.MaxInt64), nil, codeLong, 9},
		{"go int small", 5, int64(5), codeSmallLong, 2},
		{"go int large", 1 << 30, int64(1 << 30), codeLong, 9},
		{"float 0", float32(0), nil, codeFloat, 5},
		{"float 1.5", float32(1.5), nil, codeFloat, 5},
		{"float -max", float32(-math.MaxFloat32), nil, codeFloat, 5},
		{"float smallest", float32(math.SmallestNonzeroFloat32), nil, codeFloat, 5},
		{"float +inf", float32(math.Inf(1)), nil, codeFloat, 5},
		{"double 0", float64(0), nil, codeDouble, 9},
		{"double -2.25", -2.25, nil, codeDouble, 9},
		{"double max", math.MaxFloat64, nil, codeDouble, 9},
		{"double smallest", math.SmallestNonzeroFloat64, nil, codeDouble, 9},
		{"double -inf", math.Inf(-1), nil, codeDouble, 9},
		{"char a", Char('a'), nil, codeChar, 5},
		{"char é", Char('é'), nil, codeChar, 5},
		{"char max", Char(0x10ffff), nil, codeChar, 5},
		{"timestamp", ts, nil, codeTimestamp, 9},
		{"timestamp epoch", time.UnixMilli(0).UTC(), nil, codeTimestamp, 9},
		{"timestamp before epoch", time.UnixMilli(-86400001).UTC(), nil, codeTimestamp, 9},
		{"timestamp other zone, sub-ms", ts.Add(999 * time.Microsecond).In(time.FixedZone("x", 3600)), ts, codeTimestamp, 9},
		{"uuid", UUID{0x12, 0x34, 15: 0xff}, nil, codeUUID, 17},
		{"decimal32", Decimal{codeDecimal32, []byte{1, 2, 3, 4}}, nil, codeDecimal32, 5},
		{"decimal64", Decimal{codeDecimal64, bytes.Repeat([]byte{7}, 8)}, nil, codeDecimal64, 9},
		{"decimal128", Decimal{codeDecimal128, bytes.Repeat([]byte{9}, 16)}, nil, codeDecimal128, 17},
	}
}

func variableCases() []codecCase {
	var out []codecCase
	for _, n := range []int{0, 1, 255, 256, 70000} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + 1)
		}
		s := strings.Repeat("aé€", n/6) // 6 bytes a time
		s += strings.Repeat("x", n-len(s))
		sym := Symbol(strings.Repeat("s", n))
		bin, str, symc, size := byte(codeVbin8), byte(codeStr8), byte(codeSym8), 2+n
		if n > 255 {
			bin, str, symc, size = codeVbin32, codeStr32, codeSym32, 5+n
		}
		binWant := any(nil)
		if n == 0 {
			// An empty binary decodes as a nil slice.
			binWant = []byte(nil)
		}
		out = append(out,
			codecCase{fmt.Sprintf("binary %d", n), p, binWant, bin, size},
			codecCase{fmt.Sprintf("string %d", n), s, nil, str, size},
			codecCase{fmt.Sprintf("symbol %d", n), sym, nil, symc, size},
		)
	}
	// Multi-byte UTF-8 right at the str8/str32 boundary.
	u := strings.Repeat("é", 128) // 256 bytes
	out = append(out,
		codecCase{"string utf8 255", u[:254] + "x", nil, codeStr8, 257},
		codecCase{"string utf8 256", u, nil, codeStr32, 261},
	)
	return out
}

func compoundCases() []codecCase {
	long := make([]any, 300)
	for i := range long {
		long[i] = uint32(i)
	}
	return []codecCase{
		{"empty list", []any{}, []any(nil), codeList0, 1},
		{"nil list", []any(nil), nil, codeList0, 1},
		{"list", []any{uint32(1), "two", Symbol("three"), nil, true, int64(-1)}, nil, codeList32, 0},
		{"list of 300", long, nil, codeList32, 0},
		{"empty map", Map{}, nil, codeMap32, 9},
		{"map symbol keys", Map{{Symbol("x-opt-offset"), "12"}, {Symbol("x-opt-sequence-number"), int64(3)}}, nil, codeMap32, 0},
		{"map ulong keys", Map{{uint64(1), "a"}, {uint64(1 << 40), []byte{1}}}, nil, codeMap32, 0},
		{"map string keys", Map{{"name", "eh1"}, {"partition_count", int32(2)}, {"", nil}}, nil, codeMap32, 0},
		{"map mixed keys", Map{{Symbol("s"), 1.5}, {"s", uint8(1)}, {int64(-1), Map{}}}, nil, codeMap32, 0},
		{"array of string", Array{"0", "1", strings.Repeat("z", 300)}, nil, codeArray32, 0},
		{"[]string", []string{"a", "b"}, Array{"a", "b"}, codeArray32, 0},
		{"empty []string", []string{}, Array{}, codeArray8, 4},
		{"array of symbol", Array{Symbol("amqp:x"), Symbol("")}, nil, codeArray32, 0},
		{"[]Symbol", []Symbol{"a"}, Array{Symbol("a")}, codeArray32, 0},
		{"empty []Symbol", []Symbol(nil), Array{}, codeArray8, 4},
		{"array of long", Array{int64(0), int64(-1), int64(math.MaxInt64)}, nil, codeArray32, 9 + 1 + 24},
		{"empty array", Array{}, nil, codeArray8, 4},
		{"described ulong", Described{uint64(0x468C00000004), "amqp.annotation.x-opt-offset > '-1'"}, nil, codeDescribed, 0},
		{"described symbol", Described{Symbol("com.microsoft:x"), Map{{Symbol("k"), "v"}}}, nil, codeDescribed, 0},
		{"described small", Described{uint64(0x75), []byte("body")}, nil, codeDescribed, 3 + 2 + 4},
		{"described in described", Described{uint64(1), Described{Symbol("d"), nil}}, nil, codeDescribed, 0},
		{"nested", []any{
			Map{{Symbol("k"), Array{[]any{uint32(1), Map{{"deep", Array{Symbol("s")}}}}, []any{}}}},
			Described{uint64(0x77), []any{Array{int32(1)}, nil}},
			Array{Map{{"a", 1.0}}, Map{}},
			Array{Array{"x"}, Array{int64(1), int64(2)}},
		}, nil, codeList32, 0},
	}
}

// arrayElementCases has an array of every type, each in the one encoding
// the type has inside an array.
func arrayElementCases() []codecCase {
	ts := time.UnixMilli(1700000000123).UTC()
	el := []struct {
		items Array
		code  byte
	}{
		{Array{nil, nil}, codeNull},
		{Array{true, false}, codeBool},
		{Array{uint8(0), uint8(255)}, codeUbyte},
		{Array{uint16(1), uint16(math.MaxUint16)}, codeUshort},
		{Array{uint32(0), uint32(1)}, codeUint},
		{Array{uint64(0), uint64(math.MaxUint64)}, codeUlong},
		{Array{int8(-1), int8(1)}, codeByte},
		{Array{int16(-1), int16(1)}, codeShort},
		{Array{int32(-1), int32(math.MaxInt32)}, codeInt},
		{Array{int64(1), int64(math.MinInt64)}, codeLong},
		{Array{float32(1.5), float32(-2)}, codeFloat},
		{Array{0.5, math.Inf(1)}, codeDouble},
		{Array{Char('a'), Char('€')}, codeChar},
		{Array{ts, ts.Add(time.Hour)}, codeTimestamp},
		{Array{UUID{1}, UUID{2}}, codeUUID},
		{Array{Decimal{codeDecimal64, make([]byte, 8)}}, codeDecimal64},
		{Array{[]byte("a"), bytes.Repeat([]byte("b"), 300)}, codeVbin32},
		{Array{"a", ""}, codeStr32},
		{Array{Symbol("a"), Symbol("b")}, codeSym32},
		{Array{[]any{uint32(1)}, []any{"x", nil}}, codeList32},
		{Array{Map{{Symbol("k"), "v"}}, Map{}}, codeMap32},
		{Array{Array{"a"}, Array{int64(1)}}, codeArray32},
	}
	var out []codecCase
	for _, e := range el {
		out = append(out, codecCase{name: fmt.Sprintf("array of %T", e.items[0]), v: e.items, code: e.code})
	}
	out = append(out,
		codecCase{name: "array of empty lists", v: Array{[]any{}, []any(nil)}, want: Array{[]any{}, []any{}}, code: codeList32},
		codecCase{name: "array of empty arrays", v: Array{Array{}, Array{}}, code: codeArray32},
		codecCase{name: "array of described", v: Array{Described{uint64(7), "a"}, Described{uint64(7), "b"}}, code: codeDescribed},
		codecCase{name: "array of symbol-described maps", v: Array{Described{Symbol("d"), Map{}}, Described{Symbol("d"), Map{{"k", nil}}}}, code: codeDescribed},
	)
	return out
}

// arrayElementCode finds the element constructor of an encoded array.
func arrayElementCode(b []byte) byte {
	switch b[0] {
	case codeArray8:
		return b[3]
	case codeArray32:
		return b[9]
	}
	return 0
}

func TestRoundTrip(t *testing.T) {
	groups := map[string][]codecCase{
		"scalar":   scalarCases(),
		"variable": variableCases(),
		"compound": compoundCases(),
		"array":    arrayElementCases(),
	}
	for group, cases := range groups {
		for _, c := range cases {
			t.Run(group+"/"+c.name, func(t *testing.T) {
				b := enc(t, c.v)
				first := b[0]
				if group == "array" {
					first = arrayElementCode(b)
				}
				if first != c.code {
					t.Errorf("constructor 0x%02x, want 0x%02x (encoding % x)", first, c.code, head(b))
				}
				if c.size != 0 && len(b) != c.size {
					t.Errorf("encoded in %d bytes, want %d", len(b), c.size)
				}
				got := mustDecode(t, b)
				want := c.want
				if want == nil {
					want = c.v
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("decoded %#v (%T), want %#v (%T)", short(got), got, short(want), want)
				}
				// Appending to a non-empty slice must leave its head alone
				// and produce the same bytes.
				prefix := []byte{0xde, 0xad}
				b2, err := Append(append([]byte(nil), prefix...), c.v)
				if err != nil || !bytes.Equal(b2[:2], prefix) || !bytes.Equal(b2[2:], b) {
					t.Errorf("Append after a prefix: % x, %v", head(b2), err)
				}
				// Skip must consume exactly the bytes Value does.
				d := NewDecoder(b)
				if err := d.Skip(); err != nil || d.Pos() != len(b) || d.Len() != 0 {
					t.Errorf("Skip: pos %d of %d, %v", d.Pos(), len(b), err)
				}
			})
		}
	}
}

func head(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

func short(v any) any {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			return v[:40] + "..."
		}
	case []byte:
		return head(v)
	}
	return v
}

func TestFloatBitsRoundTrip(t *testing.T) {
	nan32 := math.Float32frombits(0x7fc00001)
	b := enc(t, nan32)
	got, ok := mustDecode(t, b).(float32)
	if !ok || math.Float32bits(got) != 0x7fc00001 {
		t.Errorf("float32 NaN came back as %#v", got)
	}
	nan64 := math.Float64frombits(0x7ff8000000000abc)
	got64, ok := mustDecode(t, enc(t, nan64)).(float64)
	if !ok || math.Float64bits(got64) != 0x7ff8000000000abc {
		t.Errorf("float64 NaN came back as %#v", got64)
	}
	negZero := math.Copysign(0, -1)
	if g := mustDecode(t, enc(t, negZero)).(float64); !math.Signbit(g) {
		t.Errorf("-0 lost its sign")
	}
}

func TestExactEncodings(t *testing.T) {
	for _, c := range []struct {
		v    any
		want []byte
	}{
		{uint32(7), []byte{0x52, 7}},
		{int32(-2), []byte{0x54, 0xfe}},
		{int64(-129), []byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{uint16(0x1234), []byte{0x60, 0x12, 0x34}},
		{Char('€'), []byte{0x73, 0, 0, 0x20, 0xac}},
		{time.UnixMilli(0x0102030405).UTC(), []byte{0x83, 0, 0, 0, 1, 2, 3, 4, 5}},
		{"hi", []byte{0xa1, 2, 'h', 'i'}},
		{Symbol("s"), []byte{0xa3, 1, 's'}},
		{[]byte{9}, []byte{0xa0, 1, 9}},
		{[]any{uint32(1)}, []byte{0xd0, 0, 0, 0, 6, 0, 0, 0, 1, 0x52, 1}},
		{Map{{Symbol("k"), true}}, []byte{0xd1, 0, 0, 0, 8, 0, 0, 0, 2, 0xa3, 1, 'k', 0x41}},
		{Array{"a", "bc"}, []byte{0xf0, 0, 0, 0, 16, 0, 0, 0, 2, 0xb1, 0, 0, 0, 1, 'a', 0, 0, 0, 2, 'b', 'c'}},
		{Array{int32(1)}, []byte{0xf0, 0, 0, 0, 9, 0, 0, 0, 1, 0x71, 0, 0, 0, 1}},
		{Array{true}, []byte{0xf0, 0, 0, 0, 6, 0, 0, 0, 1, 0x56, 1}},
		{Array{Described{uint64(7), "a"}}, []byte{0xf0, 0, 0, 0, 13, 0, 0, 0, 1, 0x00, 0x53, 7, 0xb1, 0, 0, 0, 1, 'a'}},
		{Array{}, []byte{0xe0, 2, 0, 0x40}},
		{[]string{}, []byte{0xe0, 2, 0, 0xa1}},
		{[]Symbol{}, []byte{0xe0, 2, 0, 0xa3}},
		{Described{uint64(0x72), Map{}}, []byte{0, 0x53, 0x72, 0xd1, 0, 0, 0, 4, 0, 0, 0, 0}},
		{Described{Symbol("ab"), nil}, []byte{0, 0xa3, 2, 'a', 'b', 0x40}},
	} {
		if got := enc(t, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("Append(%#v) = % x, want % x", c.v, got, c.want)
		}
	}
	if got := AppendDescriptor(nil, 0x14); !bytes.Equal(got, []byte{0, 0x53, 0x14}) {
		t.Errorf("AppendDescriptor(0x14) = % x", got)
	}
	if got := AppendDescriptor(nil, 0x468C00000004); !bytes.Equal(got, []byte{0, 0x80, 0, 0, 0x46, 0x8c, 0, 0, 0, 4}) {
		t.Errorf("AppendDescriptor(0x468C00000004) = % x", got)
	}
}

// TestDecodeHandWritten decodes encodings an encoder here never chooses but
// a peer may send: wide encodings of short values, narrow compounds, arrays
// with small or described constructors.
func TestDecodeHandWritten(t *testing.T) {
	u32 := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, c := range []struct {
		name string
		b    []byte
		want any
	}{
		{"str32 short", cat([]byte{0xb1}, u32(2), []byte("hi")), "hi"},
		{"str32 empty", cat([]byte{0xb1}, u32(0)), ""},
		{"sym32 short", cat([]byte{0xb3}, u32(3), []byte("abc")), Symbol("abc")},
		{"vbin32 short", cat([]byte{0xb0}, u32(1), []byte{7}), []byte{7}},
		{"str8 utf8", []byte{0xa1, 3, 'x', 0xc3, 0xa9}, "xé"},
		{"bool 0x56 true", []byte{0x56, 1}, true},
		{"bool 0x56 false", []byte{0x56, 0}, false},
		{"uint0", []byte{0x43}, uint32(0)},
		{"ulong0", []byte{0x44}, uint64(0)},
		{"smalluint", []byte{0x52, 0xff}, uint32(255)},
		{"uint wide small", []byte{0x70, 0, 0, 0, 1}, uint32(1)},
		{"ulong wide small", []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 1}, uint64(1)},
		{"smallint -128", []byte{0x54, 0x80}, int32(-128)},
		{"smalllong -1", []byte{0x55, 0xff}, int64(-1)},
		{"int wide -1", []byte{0x71, 0xff, 0xff, 0xff, 0xff}, int32(-1)},
		{"timestamp -1ms", []byte{0x83, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, time.UnixMilli(-1).UTC()},
		{"list0", []byte{0x45}, []any(nil)},
		{"list8", []byte{0xc0, 4, 2, 0x52, 1, 0x41}, []any{uint32(1), true}},
		{"list8 empty", []byte{0xc0, 1, 0}, []any{}},
		{"list32 short", cat([]byte{0xd0}, u32(6), u32(2), []byte{0x40, 0x44}), []any{nil, uint64(0)}},
		{"map8", []byte{0xc1, 6, 2, 0xa3, 1, 'k', 0x52, 5}, Map{{Symbol("k"), uint32(5)}}},
		{"map8 empty", []byte{0xc1, 1, 0}, Map{}},
		{"map8 string and ulong keys", []byte{0xc1, 9, 4, 0xa1, 1, 'k', 0x40, 0x53, 9, 0xa1, 0}, Map{{"k", nil}, {uint64(9), ""}}},
		{"map32 short", cat([]byte{0xd1}, u32(8), u32(2), []byte{0xa1, 1, 'a', 0x41}), Map{{"a", true}}},
		{"array8 smalluint", []byte{0xe0, 4, 2, 0x52, 1, 2}, Array{uint32(1), uint32(2)}},
		{"array8 smallint", []byte{0xe0, 4, 2, 0x54, 0xff, 1}, Array{int32(-1), int32(1)}},
		{"array8 str8", []byte{0xe0, 7, 2, 0xa1, 1, 'a', 2, 'b', 'c'}, Array{"a", "bc"}},
		{"array8 sym8", []byte{0xe0, 5, 1, 0xa3, 2, 'x', 'y'}, Array{Symbol("xy")}},
		{"array8 bool", []byte{0xe0, 4, 2, 0x56, 1, 0}, Array{true, false}},
		{"array8 true (zero width)", []byte{0xe0, 2, 3, 0x41}, Array{true, true, true}},
		{"array8 uint0 (zero width)", []byte{0xe0, 2, 2, 0x43}, Array{uint32(0), uint32(0)}},
		{"array8 empty str8", []byte{0xe0, 2, 0, 0xa1}, Array{}},
		{"array8 described constructor", []byte{0xe0, 10, 2, 0x00, 0x53, 7, 0xa1, 1, 'a', 2, 'b', 'c'},
			Array{Described{uint64(7), "a"}, Described{uint64(7), "bc"}}},
		{"array8 symbol-described constructor", []byte{0xe0, 7, 1, 0x00, 0xa3, 1, 'd', 0x52, 9},
			Array{Described{Symbol("d"), uint32(9)}}},
		{"array8 of list8", []byte{0xe0, 7, 2, 0xc0, 2, 1, 0x41, 1, 0}, Array{[]any{true}, []any{}}},
		{"array8 of map8", []byte{0xe0, 6, 1, 0xc1, 3, 2, 0x40, 0x40}, Array{Map{{nil, nil}}}},
		{"array8 of array8", []byte{0xe0, 7, 1, 0xe0, 4, 2, 0x50, 1, 2}, Array{Array{uint8(1), uint8(2)}}},
		{"array32 short", cat([]byte{0xf0}, u32(7), u32(2), []byte{0x50, 3, 4}), Array{uint8(3), uint8(4)}},
		{"described symbol", []byte{0x00, 0xa3, 3, 'a', 'b', 'c', 0x40}, Described{Symbol("abc"), nil}},
		{"described smallulong", []byte{0x00, 0x53, 0x24, 0x45}, Described{uint64(0x24), []any(nil)}},
		{"described ulong0", []byte{0x00, 0x44, 0x41}, Described{uint64(0), true}},
		{"described wide ulong", []byte{0x00, 0x80, 0, 0, 0x01, 0x37, 0, 0, 0, 0x01, 0x42}, Described{uint64(0x013700000001), false}},
		// Reserved descriptors (AMQP 1.0 part 1, 1.5) are not invalid: pyamqp
		// sends its AccessToken tuple as binary-described.
		{"described binary (pyamqp's security_token)", []byte{0x00, 0xa0, 3, 't', 'o', 'k', 0x71, 0x6b, 0x49, 0xd2, 0x00},
			Described{[]byte("tok"), int32(1_800_000_000)}},
		{"described string", []byte{0x00, 0xa1, 1, 'd', 0x40}, Described{"d", nil}},
		{"described uint", []byte{0x00, 0x52, 1, 0x40}, Described{uint32(1), nil}},
		{"described list0", []byte{0x00, 0x45, 0x40}, Described{[]any(nil), nil}},
		{"described null", []byte{0x00, 0x40, 0x41}, Described{nil, true}},
		{"described described", []byte{0x00, 0x00, 0x53, 1, 0x40, 0x41}, Described{Described{uint64(1), nil}, true}},
		{"map with a binary-described value", []byte{0xc1, 10, 2, 0xa1, 1, 'k', 0x00, 0xa0, 1, 'b', 0x54, 7},
			Map{{"k", Described{[]byte("b"), int32(7)}}}},
		{"decimal32", []byte{0x74, 1, 2, 3, 4}, Decimal{codeDecimal32, []byte{1, 2, 3, 4}}},
		{"compound with trailing padding", []byte{0xc0, 3, 1, 0x41, 0x40}, []any{true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := mustDecode(t, c.b)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("decoded %#v, want %#v", got, c.want)
			}
			d := NewDecoder(c.b)
			if err := d.Skip(); err != nil || d.Len() != 0 {
				t.Errorf("Skip left %d bytes: %v", d.Len(), err)
			}
			// Whatever a peer sent, the value re-encodes and decodes to itself.
			if again := mustDecode(t, enc(t, got)); !reflect.DeepEqual(canonEmpty(again), canonEmpty(got)) {
				t.Errorf("re-encoded %#v decodes as %#v", got, again)
			}
		})
	}
}

func TestDecoderAPI(t *testing.T) {
	b := append(enc(t, "ab"), enc(t, uint32(300))...)
	d := NewDecoder(b)
	if c, ok := d.PeekCode(); !ok || c != codeStr8 {
		t.Fatalf("PeekCode = 0x%02x, %v", c, ok)
	}
	if d.Pos() != 0 || d.Len() != len(b) {
		t.Fatalf("fresh decoder at %d with %d left", d.Pos(), d.Len())
	}
	if v, err := d.Value(); err != nil || v != "ab" {
		t.Fatalf("first value %#v, %v", v, err)
	}
	if d.Pos() != 4 || !bytes.Equal(d.Rest(), b[4:]) {
		t.Fatalf("after the string: pos %d, rest % x", d.Pos(), d.Rest())
	}
	if v, err := d.Value(); err != nil || v != uint32(300) {
		t.Fatalf("second value %#v, %v", v, err)
	}
	if _, ok := d.PeekCode(); ok || d.Len() != 0 {
		t.Fatalf("PeekCode at the end reported a byte")
	}
	_, err := d.Value()
	wantDecodeErr(t, err, "Value at the end")
	wantDecodeErr(t, d.Skip(), "Skip at the end")

	_, err = Unmarshal(append(enc(t, true), codeNull))
	wantDecodeErr(t, err, "a value followed by a byte")
	_, err = Unmarshal(nil)
	wantDecodeErr(t, err, "no input")
}

func TestMapGetSetDelete(t *testing.T) {
	m := Map{
		{Symbol("x-opt-partition-key"), "pk"},
		{"operation", "READ"},
		{uint64(7), "seven"},
		{int64(7), "long seven"},
	}
	for _, c := range []struct {
		key  any
		want any
		ok   bool
	}{
		{Symbol("x-opt-partition-key"), "pk", true},
		{"x-opt-partition-key", "pk", true}, // string finds a symbol key
		{Symbol("operation"), "READ", true}, // symbol finds a string key
		{"operation", "READ", true},
		{uint64(7), "seven", true},
		{int64(7), "long seven", true},
		{uint32(7), nil, false}, // other numeric types are other keys
		{"7", nil, false},
		{Symbol("missing"), nil, false},
		{nil, nil, false},
	} {
		got, ok := m.Get(c.key)
		if ok != c.ok || got != c.want {
			t.Errorf("Get(%#v) = %#v, %v; want %#v, %v", c.key, got, ok, c.want, c.ok)
		}
	}
	// An empty text key is not the same as a key that is not text.
	em := Map{{"", "empty string"}, {uint64(0), "zero"}}
	if v, ok := em.Get(nil); ok {
		t.Errorf("Get(nil) found %#v", v)
	}
	if v, ok := em.Get(Symbol("")); !ok || v != "empty string" {
		t.Errorf("Get(Symbol(\"\")) = %#v, %v", v, ok)
	}
	if v, ok := (Map{{uint64(0), "zero"}}).Get(""); ok {
		t.Errorf("Get(\"\") found the ulong key: %#v", v)
	}
	if _, ok := Map(nil).Get("x"); ok {
		t.Error("Get on a nil map found something")
	}

	m = m.Set("x-opt-partition-key", "other")
	if len(m) != 4 || m[0].Key != Symbol("x-opt-partition-key") || m[0].Value != "other" {
		t.Errorf("Set by string of a symbol key: %#v", m)
	}
	m = m.Set(Symbol("new"), int64(1))
	if len(m) != 5 || m[4] != (KV{Symbol("new"), int64(1)}) {
		t.Errorf("Set of a new key: %#v", m)
	}
	m = m.Delete(Symbol("operation"))
	if _, ok := m.Get("operation"); ok || len(m) != 4 || m[1].Key != uint64(7) {
		t.Errorf("Delete by symbol of a string key: %#v", m)
	}
	m = m.Delete("absent")
	if len(m) != 4 {
		t.Errorf("Delete of an absent key changed the map: %#v", m)
	}
	var nm Map
	nm = nm.Set("a", 1)
	if v, ok := nm.Get(Symbol("a")); !ok || v != 1 {
		t.Errorf("Set on a nil map: %#v", nm)
	}
	// A decoded map answers to either spelling of its keys.
	dm := mustDecode(t, []byte{0xc1, 6, 2, 0xa3, 1, 'k', 0x52, 5}).(Map)
	if v, ok := dm.Get("k"); !ok || v != uint32(5) {
		t.Errorf("decoded map Get(\"k\") = %#v, %v", v, ok)
	}
}

// validEncodings gathers every encoding the round-trip tests use, plus the
// hand-written ones, for the error tests below.
func validEncodings(t *testing.T) [][]byte {
	var out [][]byte
	for _, cs := range [][]codecCase{scalarCases(), variableCases(), compoundCases(), arrayElementCases()} {
		for _, c := range cs {
			if b := enc(t, c.v); len(b) < 2000 {
				out = append(out, b)
			}
		}
	}
	out = append(out,
		[]byte{0xe0, 10, 2, 0x00, 0x53, 7, 0xa1, 1, 'a', 2, 'b', 'c'},
		[]byte{0xc1, 6, 2, 0xa3, 1, 'k', 0x52, 5},
		[]byte{0xc0, 4, 2, 0x52, 1, 0x41},
		[]byte{0xb1, 0, 0, 0, 2, 'h', 'i'},
	)
	return out
}

func TestTruncatedInputs(t *testing.T) {
	n := 0
	for _, b := range validEncodings(t) {
		for i := 0; i < len(b); i++ {
			n++
			v, err := unmarshalNoPanic(t, b[:i])
			if err == nil {
				t.Fatalf("the %d-byte prefix of % x decoded as %#v", i, head(b), v)
			}
			wantDecodeErr(t, err, fmt.Sprintf("%d-byte prefix of % x", i, head(b)))
			// Skip checks sizes: a prefix is always short.
			wantDecodeErr(t, NewDecoder(b[:i]).Skip(), fmt.Sprintf("Skip of the %d-byte prefix of % x", i, head(b)))
		}
	}
	if n < 1000 {
		t.Fatalf("only %d prefixes tried", n)
	}
}

func TestUnknownTypeCodes(t *testing.T) {
	known := map[byte]bool{}
	for _, c := range []byte{codeDescribed, codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0,
		codeUbyte, codeByte, codeSmallUint, codeSmallUlong, codeSmallInt, codeSmallLong, codeBool,
		codeUshort, codeShort, codeUint, codeInt, codeFloat, codeChar, codeDecimal32,
		codeUlong, codeLong, codeDouble, codeTimestamp, codeDecimal64, codeUUID, codeDecimal128,
		codeVbin8, codeStr8, codeSym8, codeVbin32, codeStr32, codeSym32,
		codeList8, codeMap8, codeList32, codeMap32, codeArray8, codeArray32} {
		known[c] = true
	}
	if len(known) != 40 {
		t.Fatalf("%d known codes", len(known))
	}
	for c := 0; c < 256; c++ {
		b := append([]byte{byte(c)}, make([]byte, 32)...)
		_, err := unmarshalNoPanic(t, b)
		if known[byte(c)] {
			continue
		}
		wantDecodeErr(t, err, fmt.Sprintf("code 0x%02x", c))
		if !strings.Contains(err.Error(), "unknown type code") {
			t.Errorf("code 0x%02x: %v", c, err)
		}
		wantDecodeErr(t, NewDecoder(b).Skip(), fmt.Sprintf("Skip of code 0x%02x", c))
		// Inside a list, as a descriptor and as an array constructor.
		_, err = unmarshalNoPanic(t, []byte{0xc0, 2, 1, byte(c)})
		wantDecodeErr(t, err, fmt.Sprintf("code 0x%02x in a list", c))
		_, err = unmarshalNoPanic(t, []byte{0xe0, 3, 1, byte(c), 0})
		wantDecodeErr(t, err, fmt.Sprintf("code 0x%02x as array constructor", c))
	}
}

func TestDecodeErrors(t *testing.T) {
	u32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, c := range []struct {
		name string
		b    []byte
		msg  string // a part of the error message, if it matters
	}{
		{"str8 length past the end", []byte{0xa1, 5, 'a'}, "exceeds"},
		{"str32 length past the end", cat([]byte{0xb1}, u32(256), []byte("a")), "exceeds"},
		{"vbin32 length 4 GiB", cat([]byte{0xb0}, u32(math.MaxUint32)), "exceeds"},
		{"sym8 length past the end", []byte{0xa3, 1}, ""},
		{"list8 size past the end", []byte{0xc0, 16, 1, 0x40}, "exceeds"},
		{"list32 size past the end", cat([]byte{0xd0}, u32(1000), u32(1), []byte{0x40}), "exceeds"},
		{"map32 size past the end", cat([]byte{0xd1}, u32(math.MaxUint32), u32(0)), "exceeds"},
		{"array32 size past the end", cat([]byte{0xf0}, u32(100), u32(1), []byte{0x40}), "exceeds"},
		{"list8 count larger than the body", []byte{0xc0, 2, 5, 0x40}, "elements in"},
		{"list32 count larger than the body", cat([]byte{0xd0}, u32(5), u32(100), []byte{0x40}), "elements in"},
		{"list32 count 2^31", cat([]byte{0xd0}, u32(5), u32(1<<31), []byte{0x40}), ""},
		{"list32 count max", cat([]byte{0xd0}, u32(5), u32(math.MaxUint32), []byte{0x40}), ""},
		{"list count fits but elements overrun", []byte{0xc0, 3, 2, 0xa1, 5}, ""},
		{"list body without count", []byte{0xc0, 0}, ""},
		{"list32 body without count", cat([]byte{0xd0}, u32(2), []byte{0, 0}), ""},
		{"list elements short of the count", []byte{0xc0, 3, 2, 0x40, 0x52}, ""},
		{"map8 odd count", []byte{0xc1, 4, 3, 0x40, 0x40, 0x40}, "odd"},
		{"map8 count 1", []byte{0xc1, 2, 1, 0x40}, "odd"},
		{"map32 odd count", cat([]byte{0xd1}, u32(7), u32(3), []byte{0x40, 0x40, 0x40}), "odd"},
		{"map32 count 2^31", cat([]byte{0xd1}, u32(6), u32(1<<31), []byte{0x40, 0x40}), ""},
		{"map count larger than the body", []byte{0xc1, 3, 4, 0x40, 0x40}, "elements in"},
		{"map value missing", []byte{0xc1, 2, 2, 0x40}, ""},
		{"array of zero-width elements, count 2^32-1", cat([]byte{0xf0}, u32(5), u32(math.MaxUint32), []byte{0x40}), ""},
		{"array of zero-width elements, count 2^31", cat([]byte{0xf0}, u32(5), u32(1<<31), []byte{0x40}), ""},
		{"array of zero-width elements, count 2^16+1", cat([]byte{0xf0}, u32(5), u32(1<<16+1), []byte{0x41}), "elements in"},
		{"array of fixed elements, count past the body", []byte{0xe0, 4, 200, 0x52, 1, 2}, "elements in"},
		{"array of fixed elements, body too short", []byte{0xe0, 4, 3, 0x52, 1, 2}, ""},
		{"array described twice", []byte{0xe0, 6, 1, 0x00, 0x53, 1, 0x00, 0x41}, "described twice"},
		{"array without constructor", []byte{0xe0, 1, 0}, ""},
		{"array descriptor but no constructor", []byte{0xe0, 3, 1, 0x00, 0x44}, ""},
		{"array32 count 2^31 of lists", cat([]byte{0xf0}, u32(5), u32(1<<31), []byte{0xc0}), ""},
		{"invalid UTF-8 in str8", []byte{0xa1, 2, 0xff, 0xfe}, "UTF-8"},
		{"truncated UTF-8 sequence in str8", []byte{0xa1, 2, 'a', 0xc3}, "UTF-8"},
		{"surrogate in str32", cat([]byte{0xb1}, u32(3), []byte{0xed, 0xa0, 0x80}), "UTF-8"},
		{"invalid UTF-8 in a nested string", []byte{0xc0, 4, 1, 0xa1, 1, 0x80}, "UTF-8"},
		{"invalid UTF-8 in an array of str8", []byte{0xe0, 5, 1, 0xa1, 2, 'a', 0xff}, "UTF-8"},
		{"boolean byte 2", []byte{0x56, 2}, "boolean"},
		{"described without a value", []byte{0x00, 0x53, 0x10}, ""},
		{"described without a descriptor", []byte{0x00}, ""},
		{"trailing bytes", []byte{0x40, 0x40}, "after the value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := unmarshalNoPanic(t, c.b)
			if err == nil {
				t.Fatalf("decoded %#v", short(v))
			}
			wantDecodeErr(t, err, c.name)
			if c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
		})
	}
}

// TestZeroWidthArrays: a few bytes may claim up to 2^16 zero-width
// elements, no more.
func TestZeroWidthArrays(t *testing.T) {
	for _, code := range []byte{codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0} {
		b := binary.BigEndian.AppendUint32([]byte{0xf0, 0, 0, 0, 5}, 1<<16)
		b = append(b, code)
		v, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("2^16 elements of 0x%02x: %v", code, err)
		}
		if a, ok := v.(Array); !ok || len(a) != 1<<16 {
			t.Fatalf("2^16 elements of 0x%02x decoded as %T of %d", code, v, len(a))
		}
		binary.BigEndian.PutUint32(b[5:], 1<<16+1)
		_, err = Unmarshal(b)
		wantDecodeErr(t, err, fmt.Sprintf("2^16+1 elements of 0x%02x", code))
	}
}

// nest wraps inner in n lists (list32, so there is no size limit).
func nest(n int, inner []byte) []byte {
	b := inner
	for i := 0; i < n; i++ {
		h := []byte{codeList32}
		h = binary.BigEndian.AppendUint32(h, uint32(len(b)+4))
		h = binary.BigEndian.AppendUint32(h, 1)
		b = append(h, b...)
	}
	return b
}

func TestNestingDepth(t *testing.T) {
	wraps := map[string]func(n int) []byte{
		"lists": func(n int) []byte { return nest(n, []byte{codeNull}) },
		"maps": func(n int) []byte {
			b := []byte{codeNull}
			for i := 0; i < n; i++ {
				h := binary.BigEndian.AppendUint32([]byte{codeMap32}, uint32(len(b)+5))
				h = binary.BigEndian.AppendUint32(h, 2)
				b = append(append(h, codeNull), b...)
			}
			return b
		},
		"arrays": func(n int) []byte {
			// An array of one array of one array ... of null.
			b := []byte{0, 0, 0, 1, codeNull} // count 1, constructor null
			for i := 1; i < n; i++ {
				h := binary.BigEndian.AppendUint32(nil, 1) // count
				h = append(h, codeArray32)
				h = binary.BigEndian.AppendUint32(h, uint32(len(b)))
				b = append(h, b...)
			}
			return append(binary.BigEndian.AppendUint32([]byte{codeArray32}, uint32(len(b))), b...)
		},
		"described": func(n int) []byte {
			b := bytes.Repeat([]byte{0x00, 0x53, 0x01}, n)
			return append(b, codeNull)
		},
		"described lists": func(n int) []byte {
			// Each level is a described value holding a list: two levels
			// of depth.
			b := []byte{codeNull}
			for i := 0; i < n; i++ {
				b = append([]byte{0x00, 0x53, 0x01}, nest(1, b)...)
			}
			return b
		},
	}
	for name, wrap := range wraps {
		t.Run(name, func(t *testing.T) {
			limit := maxDepth
			if name == "described lists" {
				limit = maxDepth / 2 // each level is a described value and a list
			}
			if _, err := unmarshalNoPanic(t, wrap(limit)); err != nil {
				t.Fatalf("%d levels: %v", limit, err)
			}
			for _, n := range []int{limit + 1, 2 * limit, 2000} {
				_, err := unmarshalNoPanic(t, wrap(n))
				wantDecodeErr(t, err, fmt.Sprintf("%d levels", n))
				if !strings.Contains(err.Error(), "nested deeper") {
					t.Errorf("%d levels: %v", n, err)
				}
			}
		})
	}
	// Skip only descends into described values; it bounds those too.
	d := NewDecoder(wraps["described"](maxDepth + 1))
	wantDecodeErr(t, d.Skip(), "Skip of deep described values")
}

func TestAppendErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
	}{
		{"unsupported type", struct{}{}},
		{"unsupported in a list", []any{uint32(1), make(chan int)}},
		{"unsupported in a map", Map{{"k", float32(1)}, {"x", []int{1}}}},
		{"mixed array", Array{"a", Symbol("b")}},
		{"mixed numeric array", Array{int64(1), int32(1)}},
		{"array mixing described and plain", Array{Described{uint64(1), "a"}, "b"}},
		{"array with two descriptors", Array{Described{uint64(1), "a"}, Described{uint64(2), "b"}}},
		{"array of unsupported", Array{struct{}{}}},
		{"described of unsupported", Described{uint64(1), struct{}{}}},
		{"nested bad array", []any{Map{{"k", Array{uint8(1), "x"}}}}},
	} {
		if b, err := Append(nil, c.v); err == nil {
			t.Errorf("%s: encoded as % x", c.name, b)
		}
	}
}
