package capture

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/ehstream/ehstream/eventhubs"
)

// CaptureSchema is the Avro schema of Event Hubs Capture's files, as the
// service's documentation gives it ("Exploring captured files": what
// avro-tools getschema prints for a Capture file). Files of the Avro
// format carry it verbatim, so tools written for Capture read them.
const CaptureSchema = `{"type":"record","name":"EventData","namespace":"Microsoft.ServiceBus.Messaging","fields":[` +
	`{"name":"SequenceNumber","type":"long"},` +
	`{"name":"Offset","type":"string"},` +
	`{"name":"EnqueuedTimeUtc","type":"string"},` +
	`{"name":"SystemProperties","type":{"type":"map","values":["long","double","string","bytes"]}},` +
	`{"name":"Properties","type":{"type":"map","values":["long","double","string","bytes"]}},` +
	`{"name":"Body","type":["null","bytes"]}]}`

// EnqueuedTimeLayout is how Capture writes EnqueuedTimeUtc: .NET's
// invariant culture's general date and time ("M/d/yyyy h:mm:ss tt"), in
// UTC, to the second, e.g. "12/2/2021 2:58:24 PM". The milliseconds are
// in SystemProperties' x-opt-enqueued-time.
const EnqueuedTimeLayout = "1/2/2006 3:04:05 PM"

var captureSchema = avro.MustParse(CaptureSchema)

// AvroOptions are the Avro format's options; nil means every default.
type AvroOptions struct {
	// Codec compresses the file's blocks: "deflate" (the default; every
	// Avro reader has it, the specification requires it) or "null".
	Codec string
	// BlockSize is about how many bytes of encoded events a block holds
	// before it is compressed and written. Default 1 MiB.
	BlockSize int
	// DeflateLevel is deflate's level, from 1 (flate.BestSpeed) to 9
	// (flate.BestCompression). Default DefaultDeflateLevel.
	DeflateLevel int
}

// DefaultDeflateLevel is AvroOptions.DeflateLevel's default:
// flate.BestSpeed. Against the level compress/flate defaults to (6), it
// takes half the CPU per event for files 5% (random bodies) to 16% (JSON
// bodies) larger; see BenchmarkAvroWrite.
const DefaultDeflateLevel = flate.BestSpeed

// avroFormat is the Avro format: Event Hubs Capture's schema and files.
type avroFormat struct {
	codec     ocf.CodecName
	blockSize int
	level     int
}

// Avro is the format of Event Hubs Capture: Avro object container files
// of records in CaptureSchema. It fails on options out of range, naming
// the value and what is allowed.
func Avro(opts *AvroOptions) (Format, error) {
	f := avroFormat{codec: ocf.Deflate, blockSize: 1 << 20, level: DefaultDeflateLevel}
	if opts == nil {
		return f, nil
	}
	switch opts.Codec {
	case "", "deflate":
	case "null":
		f.codec = ocf.Null
	default:
		return nil, &FormatError{Code: CodeInvalidOptions, Format: "avro",
			Message: fmt.Sprintf("codec %q is not one Capture's readers are sure to have: use deflate or null", opts.Codec)}
	}
	if opts.BlockSize < 0 {
		return nil, &FormatError{Code: CodeInvalidOptions, Format: "avro",
			Message: fmt.Sprintf("block size %d is negative: give bytes > 0, or 0 for the default (1 MiB)", opts.BlockSize)}
	}
	if opts.BlockSize > 0 {
		f.blockSize = opts.BlockSize
	}
	if opts.DeflateLevel < 0 || opts.DeflateLevel > flate.BestCompression {
		return nil, &FormatError{Code: CodeInvalidOptions, Format: "avro",
			Message: fmt.Sprintf("deflate level %d is not one of 1 (fastest) to 9 (smallest): give one, or 0 for the default (%d)", opts.DeflateLevel, DefaultDeflateLevel)}
	}
	if opts.DeflateLevel > 0 {
		f.level = opts.DeflateLevel
	}
	return f, nil
}

func (avroFormat) Name() string { return "avro" }
func (avroFormat) Ext() string  { return ".avro" }

// NewFileWriter writes the container's header (the schema, the codec) to
// w at once, then a block each BlockSize bytes of events.
func (f avroFormat) NewFileWriter(w io.Writer, _ FileInfo) (FileWriter, error) {
	cw := &countingWriter{w: w}
	codec := ocf.WithCodec(f.codec)
	if f.codec == ocf.Deflate {
		codec = ocf.WithCompressionLevel(f.level)
	}
	enc, err := ocf.NewEncoderWithSchema(captureSchema, cw,
		codec, ocf.WithBlockLength(0), ocf.WithBlockSize(f.blockSize),
		// The documented schema as it is, namespace and all, rather than
		// the parsing canonical form that drops the namespace.
		ocf.WithSchemaMarshaler(func(avro.Schema) ([]byte, error) { return []byte(CaptureSchema), nil }))
	if err != nil {
		return nil, &FormatError{Code: CodeWrite, Format: "avro", Message: "writing the file's header", Err: err}
	}
	aw := &avroWriter{out: cw, file: enc}
	aw.record = avro.NewEncoderForSchema(captureSchema, &aw.buf)
	return aw, nil
}

// captureRecord is one event as Capture writes it.
type captureRecord struct {
	SequenceNumber   int64          `avro:"SequenceNumber"`
	Offset           string         `avro:"Offset"`
	EnqueuedTimeUtc  string         `avro:"EnqueuedTimeUtc"`
	SystemProperties map[string]any `avro:"SystemProperties"`
	Properties       map[string]any `avro:"Properties"`
	Body             *[]byte        `avro:"Body"`
}

// avroWriter encodes each event itself, then hands the bytes to the
// container's encoder, so that it knows how many bytes wait in the block
// not yet written: Size is what went to w plus those, shrunk by the
// compression the blocks written had.
type avroWriter struct {
	out     *countingWriter
	file    *ocf.Encoder
	record  *avro.Encoder
	buf     bytes.Buffer
	pending int64 // encoded bytes in the block not yet written
	// raw and packed are the encoded and the written bytes of the blocks
	// written: their ratio is the compression so far.
	raw, packed int64
	// rec is the record of the event being written, its maps and body
	// reused from one event to the next, since each allocation costs.
	rec  captureRecord
	body []byte
	// second and enqueued are the last EnqueuedTimeUtc written and its
	// Unix second: a backlog's events come many to a second, and
	// formatting the time is much of an event's cost.
	second   int64
	enqueued string
}

func (aw *avroWriter) Write(ev *eventhubs.Event) error {
	aw.buf.Reset()
	aw.fill(ev)
	if err := aw.record.Encode(&aw.rec); err != nil {
		return &FormatError{Code: CodeWrite, Format: "avro", Message: fmt.Sprintf("encoding event %d of partition %s", ev.SequenceNumber, ev.PartitionID), Err: err}
	}
	before := aw.out.n
	if _, err := aw.file.Write(aw.buf.Bytes()); err != nil {
		return &FormatError{Code: CodeWrite, Format: "avro", Message: "writing a block", Err: err}
	}
	aw.pending += int64(aw.buf.Len())
	if aw.out.n != before { // the block went out with this event in it
		aw.raw += aw.pending
		aw.packed += aw.out.n - before
		aw.pending = 0
	}
	return nil
}

// Size is the bytes written plus the block not yet written, compressed
// as the blocks before it were (not at all, before the first).
func (aw *avroWriter) Size() int64 {
	if aw.raw == 0 {
		return aw.out.n + aw.pending
	}
	return aw.out.n + aw.pending*aw.packed/aw.raw
}

func (aw *avroWriter) Close() error {
	if err := aw.file.Close(); err != nil {
		return &FormatError{Code: CodeWrite, Format: "avro", Message: "writing the last block", Err: err}
	}
	aw.pending = 0
	return nil
}

// fill makes aw.rec ev as Capture writes it. SystemProperties are those
// Capture puts there, x-opt-enqueued-time (milliseconds since the Unix
// epoch) and x-opt-partition-key (when the sender gave one), then the
// other annotations the service set, as the SDK gives them; the sequence
// number and offset are the record's own fields. An empty body is
// written as empty bytes, never null.
func (aw *avroWriter) fill(ev *eventhubs.Event) {
	r := &aw.rec
	if r.SystemProperties == nil {
		r.SystemProperties, r.Properties = map[string]any{}, map[string]any{}
	}
	sys := captureMap(r.SystemProperties, ev.SystemProperties)
	sys["x-opt-enqueued-time"] = ev.EnqueuedTime.UnixMilli()
	if ev.PartitionKey != "" {
		sys["x-opt-partition-key"] = ev.PartitionKey
	}
	captureMap(r.Properties, ev.Properties)
	aw.body = ev.Body
	if aw.body == nil {
		aw.body = []byte{}
	}
	if sec := ev.EnqueuedTime.Unix(); sec != aw.second || aw.enqueued == "" {
		aw.second, aw.enqueued = sec, ev.EnqueuedTime.UTC().Format(EnqueuedTimeLayout)
	}
	r.SequenceNumber, r.Offset, r.EnqueuedTimeUtc, r.Body = ev.SequenceNumber, ev.Offset, aw.enqueued, &aw.body
}

// captureMap empties out, then puts in each value of m as captureValue
// makes it, nil values left out; it returns out.
func captureMap(out, m map[string]any) map[string]any {
	clear(out)
	for k, v := range m {
		if val, ok := captureValue(v); ok {
			out[k] = val
		}
	}
	return out
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
