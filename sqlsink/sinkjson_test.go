package sqlsink

import (
	"encoding/json"
	"testing"
)

// propertiesJSON's path without reflection writes what json.Marshal
// writes, and leaves what it cannot write to json.Marshal.
func TestPropertiesJSONAsMarshal(t *testing.T) {
	cases := []map[string]any{
		{"part": "0"},
		{"device": "device-01", "kind": "reading", "n": int64(-7), "ok": true, "u": uint8(200)},
		{"b": int32(1), "a": int16(2), "c": int8(3), "d": 4, "e": uint(5), "f": uint16(6), "g": uint32(7), "h": uint64(1 << 63)},
		{"k1": "1", "k2": "2", "k3": "3", "k4": "4", "k5": "5", "k6": "6", "k7": "7", "k8": "8", "k9": "9", "k10": "10"},
		{"html": "<b>&</b>"},
		{"quote": `say "hi"`, "back": `a\b`},
		{"ünï": "cödé"},
		{"ctl": "a\nb\tc"},
		{"f": 1.5, "s": "x"},
		{"nil": nil},
		{"bytes": []byte("xyz")},
		{"": ""},
	}
	var buf []byte
	for _, props := range cases {
		want, err := json.Marshal(props)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		got, buf = propertiesJSON(buf, props)
		if got != string(want) {
			t.Errorf("propertiesJSON(%v) = %s, want %s", props, got, want)
		}
	}
	if got, _ := propertiesJSON(nil, nil); got != "{}" {
		t.Errorf("propertiesJSON(nil) = %s, want {}", got)
	}
	// A value JSON cannot hold is written the way Go prints it.
	got, _ := propertiesJSON(nil, map[string]any{"m": map[any]any{1: "x"}, "s": "y"})
	if want := `{"m":"map[1:x]","s":"y"}`; got != want {
		t.Errorf("propertiesJSON of an AMQP map = %s, want %s", got, want)
	}
}
