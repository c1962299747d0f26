package capture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ColumnType is the type of a column extracted from a JSON body.
type ColumnType string

const (
	ColumnString    ColumnType = "string"    // a JSON string
	ColumnInt64     ColumnType = "int64"     // a JSON number without a fraction, within int64
	ColumnDouble    ColumnType = "double"    // any JSON number
	ColumnBool      ColumnType = "bool"      // true or false
	ColumnTimestamp ColumnType = "timestamp" // an RFC 3339 string, or a number of milliseconds since the Unix epoch
)

// Column is a column of the Parquet files taken from each event's JSON
// body: Name, of Type, found at Path (the keys from the body's top
// object down; a key that is a number indexes an array). A body that is
// not JSON, lacks the path, or holds a value of another type there gives
// a null.
type Column struct {
	Name string
	Type ColumnType
	Path []string
}

// columnsForm is the form of a --columns spec, said in its errors.
const columnsForm = "name:type=path[,name:type=path...], e.g. device:string=device,temp:double=reading.temp,at:timestamp=time; " +
	"a name of letters, digits and _ not starting with a digit, a type among string, int64, double, bool, timestamp, a path of dot-separated keys"

var columnName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseColumns reads a --columns spec: comma-separated entries
// name:type=path. An empty spec is no columns. A bad entry is an error
// naming it, what is wrong and the form an entry has; so is a name given
// twice or one of the fixed columns' (ParquetColumns).
func ParseColumns(spec string) ([]Column, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var cols []Column
	seen := map[string]bool{}
	for _, f := range fixedParquetColumns {
		seen[f] = true
	}
	for entry := range strings.SplitSeq(spec, ",") {
		c, problem := parseColumn(strings.TrimSpace(entry))
		if problem == "" && seen[c.Name] {
			problem = fmt.Sprintf("the name %q is taken (a fixed column or an entry before): choose another", c.Name)
		}
		if problem != "" {
			return nil, &FormatError{Code: CodeInvalidColumns, Format: "parquet",
				Message: fmt.Sprintf("columns entry %q: %s; the form is %s", entry, problem, columnsForm)}
		}
		seen[c.Name] = true
		cols = append(cols, c)
	}
	return cols, nil
}

// parseColumn reads one entry; problem says what is wrong with it.
func parseColumn(entry string) (c Column, problem string) {
	nameType, path, ok := strings.Cut(entry, "=")
	if !ok {
		return c, "there is no = before the path"
	}
	name, typ, ok := strings.Cut(nameType, ":")
	if !ok {
		return c, "there is no : between the name and the type"
	}
	name, typ, path = strings.TrimSpace(name), strings.TrimSpace(typ), strings.TrimSpace(path)
	if !columnName.MatchString(name) {
		return c, fmt.Sprintf("the name %q is not letters, digits and _ starting with a letter or _", name)
	}
	switch t := ColumnType(typ); t {
	case ColumnString, ColumnInt64, ColumnDouble, ColumnBool, ColumnTimestamp:
		c.Type = t
	default:
		return c, fmt.Sprintf("the type %q is not one of string, int64, double, bool, timestamp", typ)
	}
	keys := strings.Split(path, ".")
	for _, k := range keys {
		if k == "" {
			return c, fmt.Sprintf("the path %q has an empty key", path)
		}
	}
	c.Name, c.Path = name, keys
	return c, ""
}

// parseBody is an event's body as JSON, or nil when it is not JSON.
func parseBody(body []byte) any {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// lookup is the value at path in a parsed JSON body, or nil.
func lookup(v any, path []string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// extract is the value of column c in a parsed body, as the Go type of
// its Parquet column (string, int64, float64, bool, time.Time), or nil:
// the column is null there.
func (c Column) extract(body any) any {
	v := lookup(body, c.Path)
	switch c.Type {
	case ColumnString:
		if s, ok := v.(string); ok {
			return s
		}
	case ColumnBool:
		if b, ok := v.(bool); ok {
			return b
		}
	case ColumnInt64:
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i
			}
		}
	case ColumnDouble:
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil && !math.IsInf(f, 0) {
				return f
			}
		}
	case ColumnTimestamp:
		return timestampOf(v)
	}
	return nil
}

// timestampOf reads an RFC 3339 string or a number of milliseconds since
// the Unix epoch, or is nil.
func timestampOf(v any) any {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC()
		}
	case json.Number:
		if ms, err := x.Int64(); err == nil {
			return time.UnixMilli(ms).UTC()
		}
	}
	return nil
}
