package capture

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// leafFill appends the values of one leaf column of an event's row.
type leafFill func(row parquet.Row, in *rowInput) parquet.Row

// leafFills are the fills of schema's leaf columns, in the schema's
// order (parquet.Group sorts its fields by name), which is the order a
// parquet.Row holds them in.
func leafFills(schema *parquet.Schema, cols []Column) []leafFill {
	extra := map[string]Column{}
	for _, c := range cols {
		extra[c.Name] = c
	}
	var fills []leafFill
	for _, path := range schema.Columns() {
		leaf, _ := schema.Lookup(path...)
		if c, ok := extra[path[0]]; ok {
			fills = append(fills, extractedFill(c, leaf.ColumnIndex))
			continue
		}
		fills = append(fills, fixedFill(path, leaf))
	}
	return fills
}

// fixedFill fills one of fixedParquetColumns.
func fixedFill(path []string, leaf parquet.LeafColumn) leafFill {
	i := leaf.ColumnIndex
	switch path[0] {
	case "partition_id":
		return func(r parquet.Row, in *rowInput) parquet.Row { return append(r, stringValue(in.ev.PartitionID, i)) }
	case "sequence_number":
		return func(r parquet.Row, in *rowInput) parquet.Row {
			return append(r, parquet.Int64Value(in.ev.SequenceNumber).Level(0, 0, i))
		}
	case "offset":
		return func(r parquet.Row, in *rowInput) parquet.Row { return append(r, stringValue(in.ev.Offset, i)) }
	case "enqueued_time":
		return func(r parquet.Row, in *rowInput) parquet.Row {
			return append(r, parquet.Int64Value(in.ev.EnqueuedTime.UnixMicro()).Level(0, 0, i))
		}
	case "partition_key":
		return func(r parquet.Row, in *rowInput) parquet.Row { return append(r, optionalString(in.ev.PartitionKey, i)) }
	case "content_type":
		return func(r parquet.Row, in *rowInput) parquet.Row { return append(r, optionalString(in.ev.ContentType, i)) }
	case "message_id":
		return func(r parquet.Row, in *rowInput) parquet.Row { return append(r, optionalString(in.ev.MessageID, i)) }
	case "body":
		return func(r parquet.Row, in *rowInput) parquet.Row {
			b := in.ev.Body
			if b == nil {
				b = []byte{}
			}
			return append(r, parquet.ByteArrayValue(b).Level(0, 0, i))
		}
	}
	// properties.key_value.key or .value
	if path[len(path)-1] == "key" {
		return mapFill(func(in *rowInput) []string { return in.keys }, leaf)
	}
	return mapFill(func(in *rowInput) []string { return in.vals }, leaf)
}

// mapFill fills a leaf of the properties map: one value per entry, the
// first at repetition level 0 and the others at 1; an empty map is one
// null at definition level 0.
func mapFill(strs func(*rowInput) []string, leaf parquet.LeafColumn) leafFill {
	i, def := leaf.ColumnIndex, leaf.MaxDefinitionLevel
	return func(r parquet.Row, in *rowInput) parquet.Row {
		ss := strs(in)
		if len(ss) == 0 {
			return append(r, parquet.NullValue().Level(0, 0, i))
		}
		for n, s := range ss {
			rep := 1
			if n == 0 {
				rep = 0
			}
			r = append(r, parquet.ByteArrayValue([]byte(s)).Level(rep, def, i))
		}
		return r
	}
}

// extractedFill fills a column taken from the JSON body, null where
// extract finds nothing of the column's type.
func extractedFill(c Column, i int) leafFill {
	return func(r parquet.Row, in *rowInput) parquet.Row {
		var v parquet.Value
		switch x := c.extract(in.body).(type) {
		case nil:
			return append(r, parquet.NullValue().Level(0, 0, i))
		case string:
			v = parquet.ByteArrayValue([]byte(x))
		case int64:
			v = parquet.Int64Value(x)
		case float64:
			v = parquet.DoubleValue(x)
		case bool:
			v = parquet.BooleanValue(x)
		case time.Time:
			v = parquet.Int64Value(x.UnixMicro())
		}
		return append(r, v.Level(0, 1, i))
	}
}

func stringValue(s string, i int) parquet.Value {
	return parquet.ByteArrayValue([]byte(s)).Level(0, 0, i)
}

// optionalString is s in a nullable column, null when empty.
func optionalString(s string, i int) parquet.Value {
	if s == "" {
		return parquet.NullValue().Level(0, 0, i)
	}
	return parquet.ByteArrayValue([]byte(s)).Level(0, 1, i)
}
