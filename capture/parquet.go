package capture

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/ehstream/ehstream/eventhubs"
)

// fixedParquetColumns are the columns every Parquet file has:
//
//	partition_id     string, required
//	sequence_number  int64, required
//	offset           string, required (opaque, as the hub gives it)
//	enqueued_time    timestamp (µs, adjusted to UTC), required
//	partition_key    string, null when the sender gave none
//	properties       map<string, string>, required (maybe empty): see propertyString
//	body             binary, required (empty for an empty body)
//	content_type     string, null when unset
//	message_id       string, null when unset
//
// The columns --columns adds come after, each nullable.
var fixedParquetColumns = []string{"partition_id", "sequence_number", "offset", "enqueued_time",
	"partition_key", "properties", "body", "content_type", "message_id"}

// ParquetOptions are the Parquet format's options; nil means every
// default.
type ParquetOptions struct {
	// Compression of the pages: "zstd" (the default) or "snappy".
	Compression string
	// RowGroupRows is the most rows a row group holds. Default 122,880,
	// DuckDB's own row group, which its readers parallelise over.
	RowGroupRows int64
	// RowGroupBytes is the most bytes, before compression, that the row
	// group being built may hold before it is written. Default 64 MiB:
	// each partition's open file holds one such group in memory.
	RowGroupBytes int64
	// Columns are taken from each event's JSON body (ParseColumns).
	Columns []Column
}

// parquetFormat is the Parquet format with its schema and, for each of
// the schema's leaf columns in order, what fills it.
type parquetFormat struct {
	schema    *parquet.Schema
	codec     compress.Codec
	rows      int64
	bytes     int64
	fills     []leafFill
	parseBody bool
}

// Parquet is the Parquet format: the columns of fixedParquetColumns then
// opts.Columns. It fails on options out of range, naming the value and
// what is allowed.
func Parquet(opts *ParquetOptions) (Format, error) {
	o := ParquetOptions{}
	if opts != nil {
		o = *opts
	}
	f := &parquetFormat{rows: 122_880, bytes: 64 << 20, parseBody: len(o.Columns) > 0}
	switch o.Compression {
	case "", "zstd":
		codec, err := newPageZstd()
		if err != nil {
			return nil, &FormatError{Code: CodeInvalidOptions, Format: "parquet", Message: "making the zstd encoder", Err: err}
		}
		f.codec = codec
	case "snappy":
		f.codec = &snappy.Codec{}
	default:
		return nil, parquetOptionError("compression %q is not one of zstd, snappy", o.Compression)
	}
	if o.RowGroupRows < 0 || o.RowGroupBytes < 0 {
		return nil, parquetOptionError("row group size %d rows, %d bytes: give sizes > 0, or 0 for the defaults (122880 rows, 64 MiB)", o.RowGroupRows, o.RowGroupBytes)
	}
	if o.RowGroupRows > 0 {
		f.rows = o.RowGroupRows
	}
	if o.RowGroupBytes > 0 {
		f.bytes = o.RowGroupBytes
	}
	if _, err := ParseColumns(columnsSpec(o.Columns)); err != nil {
		return nil, err
	}
	f.schema = parquet.NewSchema("event", parquetGroup(o.Columns))
	f.fills = leafFills(f.schema, o.Columns)
	return f, nil
}

func parquetOptionError(format string, args ...any) error {
	return &FormatError{Code: CodeInvalidOptions, Format: "parquet", Message: fmt.Sprintf(format, args...)}
}

// columnsSpec is cols written as a --columns spec, so that columns made
// in code are checked as a spec is.
func columnsSpec(cols []Column) string {
	entries := make([]string, len(cols))
	for i, c := range cols {
		entries[i] = fmt.Sprintf("%s:%s=%s", c.Name, c.Type, strings.Join(c.Path, "."))
	}
	return strings.Join(entries, ",")
}

// parquetGroup is the schema's root: the fixed columns and cols.
func parquetGroup(cols []Column) parquet.Group {
	g := parquet.Group{
		"partition_id":    parquet.String(),
		"sequence_number": parquet.Int(64),
		"offset":          parquet.String(),
		"enqueued_time":   parquet.Timestamp(parquet.Microsecond),
		"partition_key":   parquet.Optional(parquet.String()),
		"properties":      parquet.Map(parquet.String(), parquet.String()),
		"body":            parquet.Leaf(parquet.ByteArrayType),
		"content_type":    parquet.Optional(parquet.String()),
		"message_id":      parquet.Optional(parquet.String()),
	}
	for _, c := range cols {
		g[c.Name] = parquet.Optional(columnNode(c.Type))
	}
	return g
}

func columnNode(t ColumnType) parquet.Node {
	switch t {
	case ColumnInt64:
		return parquet.Int(64)
	case ColumnDouble:
		return parquet.Leaf(parquet.DoubleType)
	case ColumnBool:
		return parquet.Leaf(parquet.BooleanType)
	case ColumnTimestamp:
		return parquet.Timestamp(parquet.Microsecond)
	}
	return parquet.String()
}

func (*parquetFormat) Name() string { return "parquet" }
func (*parquetFormat) Ext() string  { return ".parquet" }

// NewFileWriter starts a Parquet file on w; nothing reaches w before the
// first row group is full or the file is closed.
func (f *parquetFormat) NewFileWriter(w io.Writer, _ FileInfo) (FileWriter, error) {
	cw := &countingWriter{w: w}
	pw := parquet.NewGenericWriter[any](cw, f.schema, parquet.Compression(f.codec), parquet.CreatedBy("ehstream", "", ""))
	return &parquetWriter{f: f, out: cw, w: pw, rows: make([]parquet.Row, 1)}, nil
}

// parquetWriter writes one Parquet file, a row group each RowGroupRows
// events or RowGroupBytes bytes.
type parquetWriter struct {
	f       *parquetFormat
	out     *countingWriter
	w       *parquet.GenericWriter[any]
	rows    []parquet.Row
	in      rowInput
	inGroup int64
}

func (pw *parquetWriter) Write(ev *eventhubs.Event) error {
	pw.in.set(ev, pw.f.parseBody)
	row := pw.rows[0][:0]
	for _, fill := range pw.f.fills {
		row = fill(row, &pw.in)
	}
	pw.rows[0] = row
	if _, err := pw.w.WriteRows(pw.rows); err != nil {
		return &FormatError{Code: CodeWrite, Format: "parquet", Message: fmt.Sprintf("writing event %d of partition %s", ev.SequenceNumber, ev.PartitionID), Err: err}
	}
	pw.inGroup++
	if pw.inGroup >= pw.f.rows || pw.w.Size()-pw.out.n >= pw.f.bytes {
		pw.inGroup = 0
		if err := pw.w.Flush(); err != nil {
			return &FormatError{Code: CodeWrite, Format: "parquet", Message: "writing a row group", Err: err}
		}
	}
	return nil
}

// Size is the bytes written plus the row group being built, before
// compression; the footer is not counted.
func (pw *parquetWriter) Size() int64 { return pw.w.Size() }

func (pw *parquetWriter) Close() error {
	if err := pw.w.Close(); err != nil {
		return &FormatError{Code: CodeWrite, Format: "parquet", Message: "writing the last row group and the footer", Err: err}
	}
	return nil
}

// rowInput is what the columns of one event's row are filled from: the
// event, its properties as sorted keys and string values, its body
// parsed when columns are extracted from it.
type rowInput struct {
	ev         *eventhubs.Event
	keys, vals []string
	body       any
}

func (in *rowInput) set(ev *eventhubs.Event, parseJSON bool) {
	in.ev, in.keys, in.vals, in.body = ev, in.keys[:0], in.vals[:0], nil
	for k := range ev.Properties {
		in.keys = append(in.keys, k)
	}
	slices.Sort(in.keys)
	n := 0
	for _, k := range in.keys {
		if s, ok := propertyString(ev.Properties[k]); ok {
			in.keys[n], in.vals = k, append(in.vals, s)
			n++
		}
	}
	in.keys = in.keys[:n]
	if parseJSON {
		in.body = parseBody(ev.Body)
	}
}
