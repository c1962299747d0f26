package capture

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseColumns(t *testing.T) {
	cols, err := ParseColumns(" device:string=device, temp:double=reading.temp ,n:int64=counts.1,ok:bool=ok,at:timestamp=time")
	if err != nil {
		t.Fatal(err)
	}
	want := []Column{{"device", ColumnString, []string{"device"}}, {"temp", ColumnDouble, []string{"reading", "temp"}},
		{"n", ColumnInt64, []string{"counts", "1"}}, {"ok", ColumnBool, []string{"ok"}}, {"at", ColumnTimestamp, []string{"time"}}}
	if !reflect.DeepEqual(cols, want) {
		t.Fatalf("ParseColumns = %+v, want %+v", cols, want)
	}
	if cols, err := ParseColumns("  "); cols != nil || err != nil {
		t.Fatalf("an empty spec gave %v, %v", cols, err)
	}
}

// Each bad entry is refused with its text, what is wrong and the form.
func TestParseColumnsRefusesBadEntries(t *testing.T) {
	for spec, problem := range map[string]string{
		"device:string":                "no = before the path",
		"device=device":                "no : between",
		"temp:float=reading.temp":      `type "float" is not one of`,
		"9lives:string=x":              `name "9lives"`,
		"a-b:string=x":                 `name "a-b"`,
		"x:string=a..b":                "empty key",
		"x:string=":                    "empty key",
		"body:string=body":             `name "body" is taken`,
		"x:string=a,x:int64=b":         `name "x" is taken`,
		"device:string=device,,":       `entry ""`,
		"sequence_number:int64=seq.no": "taken",
	} {
		_, err := ParseColumns(spec)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Code != CodeInvalidColumns || !strings.Contains(err.Error(), problem) || !strings.Contains(err.Error(), "the form is name:type=path") {
			t.Errorf("ParseColumns(%q) = %v, want an invalid-columns error saying %q and the form", spec, err, problem)
		}
	}
}

// A spec that parses gives entries that print back to a spec that
// parses the same; nothing panics.
func FuzzParseColumns(f *testing.F) {
	for _, s := range []string{"device:string=device", "a:int64=b.0,c:bool=d", "x:timestamp=", ":=", "a:b=c,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cols, err := ParseColumns(spec)
		if err != nil {
			return
		}
		again, err := ParseColumns(columnsSpec(cols))
		if err != nil || !reflect.DeepEqual(again, cols) {
			t.Fatalf("%q parsed to %+v, printed back it gives %+v, %v", spec, cols, again, err)
		}
	})
}

// A value of the column's type is taken; a missing, mistyped or
// unparsable one is null.
func TestColumnExtract(t *testing.T) {
	body := parseBody([]byte(`{"device":"d1","reading":{"temp":21.5,"n":7,"big":1e400},"ok":true,"time":"2026-12-07T15:04:05.25+01:00","ms":1796655845123,"list":[1,"two"]}`))
	at, _ := time.Parse(time.RFC3339, "2026-12-07T14:04:05.25Z")
	for _, tc := range []struct {
		spec string
		want any
	}{
		{"c:string=device", "d1"}, {"c:double=reading.temp", 21.5}, {"c:int64=reading.n", int64(7)},
		{"c:double=reading.n", 7.0}, {"c:bool=ok", true}, {"c:timestamp=time", at},
		{"c:timestamp=ms", time.UnixMilli(1796655845123).UTC()}, {"c:string=list.1", "two"},
		{"c:int64=reading.temp", nil}, {"c:string=reading.temp", nil}, {"c:double=reading.big", nil},
		{"c:string=missing.deeper", nil}, {"c:int64=list.5", nil}, {"c:timestamp=device", nil}, {"c:bool=device", nil},
	} {
		cols, err := ParseColumns(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := cols[0].extract(body); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, want %#v", tc.spec, got, tc.want)
		}
	}
	cols, _ := ParseColumns("c:string=device")
	if got := cols[0].extract(parseBody([]byte("not json"))); got != nil {
		t.Errorf("a body that is not JSON gave %#v", got)
	}
}
