package sqlsink

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/ehstream/ehstream/eventjson"
)

// propertiesJSON encodes application properties as JSON, exactly as
// json.Marshal does (keys sorted; see eventjson.SafeProperties for values JSON cannot
// hold). Properties of strings, booleans and integers without characters
// JSON or json.Marshal escapes, the common kind, take a path without
// reflection. buf is scratch space, returned for the next call.
func propertiesJSON(buf []byte, props map[string]any) (string, []byte) {
	if len(props) == 0 {
		return "{}", buf
	}
	if b, ok := appendPlainJSON(buf[:0], props); ok {
		return string(b), b
	}
	b, err := json.Marshal(props)
	if err != nil {
		b, _ = json.Marshal(eventjson.SafeProperties(props))
	}
	return string(b), buf
}

// appendPlainJSON appends props as a JSON object, and reports false,
// having appended part of it, for a key or value that needs more than
// plainJSON: such properties go through json.Marshal.
func appendPlainJSON(b []byte, props map[string]any) ([]byte, bool) {
	var small [8]string
	keys := small[:0]
	for k := range props {
		if !plainJSON(k) {
			return b, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), '"', ':')
		switch v := props[k].(type) {
		case string:
			if !plainJSON(v) {
				return b, false
			}
			b = append(append(append(b, '"'), v...), '"')
		case bool:
			b = strconv.AppendBool(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int32:
			b = strconv.AppendInt(b, int64(v), 10)
		case int16:
			b = strconv.AppendInt(b, int64(v), 10)
		case int8:
			b = strconv.AppendInt(b, int64(v), 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case uint32:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint16:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint8:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint:
			b = strconv.AppendUint(b, uint64(v), 10)
		default:
			return b, false
		}
	}
	return append(b, '}'), true
}

// plainJSON reports whether s is printable ASCII that JSON strings hold as
// is and json.Marshal does not escape (it escapes <, > and & for HTML).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
