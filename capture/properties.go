package capture

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// captureValue is v as a value of Capture's map union ["long", "double",
// "string", "bytes"]: integers as long (a uint64 past the long's range
// as its decimal string), floats as double, strings and symbols as
// string, binary as bytes, and what the union cannot hold as Capture
// itself does or, where it is silent, as a string:
//   - time.Time (an AMQP timestamp) as long, milliseconds since the Unix
//     epoch, as Capture writes x-opt-enqueued-time;
//   - bool as "true" or "false";
//   - a UUID, and anything else, as its string form (fmt's %v).
//
// ok is false for nil, which the union cannot hold: the key is left out.
func captureValue(v any) (val any, ok bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, true
	case []byte:
		return x, true
	case int64:
		return x, true
	case float64:
		return x, true
	case time.Time:
		return x.UnixMilli(), true
	case bool:
		return strconv.FormatBool(x), true
	case fmt.Stringer:
		return x.String(), true
	}
	return reflectedValue(reflect.ValueOf(v)), true
}

// reflectedValue is captureValue of the kinds a type switch cannot list:
// every integer and float width, and named string types (amqp.Symbol).
func reflectedValue(rv reflect.Value) any {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	}
	return fmt.Sprintf("%v", rv.Interface())
}

// propertyString is v as the string value of Parquet's properties map:
// numbers in Go's shortest decimal form, binary as standard base64,
// times as RFC 3339 in UTC with the fraction the time has, booleans as
// "true" or "false", anything else (a UUID) as its string form. ok is
// false for nil: the key is left out.
func propertyString(v any) (s string, ok bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	case []byte:
		return base64.StdEncoding.EncodeToString(x), true
	}
	val, ok := captureValue(v)
	switch x := val.(type) {
	case int64:
		return strconv.FormatInt(x, 10), ok
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), ok
	case string:
		return x, ok
	}
	return "", false
}
