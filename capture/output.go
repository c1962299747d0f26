package capture

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// OutputOptions are the settings of a file output given as words, as
// `ehstream stream --sink file:DIR --format parquet` gives them; nil
// means defaults.
type OutputOptions struct {
	// Format is "parquet" (the default, "") or "avro".
	Format string
	// Columns is a ParseColumns spec of body fields extracted into
	// columns of their own; Parquet only. "" means none.
	Columns string
	// Sink holds RollSize, RollInterval and Logger.
	Sink SinkOptions
	// Credential signs in to a blob:https:// destination (Microsoft
	// Entra ID); nil is refused for one.
	Credential azcore.TokenCredential
	// Blob configures a blob destination; nil means defaults.
	Blob *BlobOptions
}

// OptionError is an output's setting that cannot be used. Options names
// the settings at fault as a command's flags are named ("columns",
// "format avro"), so that a command can name its flags.
type OptionError struct {
	Options []string
	Message string
}

func (e *OptionError) Error() string {
	return "capture: " + strings.Join(e.Options, " with ") + ": " + e.Message
}

// IsOutputSpec says whether spec names a file output (file:DIR, blob:...)
// rather than some other sink (a database's).
func IsOutputSpec(spec string) bool {
	return strings.HasPrefix(spec, "file:") || strings.HasPrefix(spec, "blob:")
}

// NewFormat is the format opts names, with its extracted columns. Columns
// with Avro are refused: Avro files keep Capture's fixed schema.
func NewFormat(opts *OutputOptions) (Format, error) {
	o := OutputOptions{}
	if opts != nil {
		o = *opts
	}
	cols, err := ParseColumns(o.Columns)
	if fe, ok := err.(*FormatError); ok {
		return nil, &OptionError{Options: []string{"columns"}, Message: strings.TrimPrefix(fe.Message, "columns ")}
	}
	switch o.Format {
	case "", "parquet":
		return Parquet(&ParquetOptions{Columns: cols})
	case "avro":
		if len(cols) > 0 {
			return nil, &OptionError{Options: []string{"columns", "format avro"},
				Message: "Avro files keep Event Hubs Capture's fixed schema, with no extracted columns: extract columns into Parquet (format parquet), or leave columns out"}
		}
		return Avro(nil)
	}
	return nil, &OptionError{Options: []string{"format"}, Message: fmt.Sprintf("%q: want parquet or avro", o.Format)}
}

// CheckOutput checks a file output's spec and settings without touching
// the destination: the format, the columns and the roll settings.
func CheckOutput(spec string, opts *OutputOptions) error {
	if !IsOutputSpec(spec) {
		return &OptionError{Options: []string{"sink"}, Message: fmt.Sprintf("%s: want file:DIR or blob:...", RedactSpec(spec))}
	}
	if _, err := NewFormat(opts); err != nil {
		return err
	}
	if opts != nil && opts.Sink.RollSize < 0 {
		return &OptionError{Options: []string{"roll-size"}, Message: fmt.Sprintf("%d bytes: want more than 0", opts.Sink.RollSize)}
	}
	if opts != nil && opts.Sink.RollInterval < 0 {
		return &OptionError{Options: []string{"roll-interval"}, Message: fmt.Sprintf("%s: want a positive duration", opts.Sink.RollInterval)}
	}
	return nil
}

// OpenOutput opens the destination spec names (OpenDestination) and a
// sink of opts' format into it.
func OpenOutput(ctx context.Context, spec string, opts *OutputOptions) (*Sink, error) {
	if err := CheckOutput(spec, opts); err != nil {
		return nil, err
	}
	o := OutputOptions{}
	if opts != nil {
		o = *opts
	}
	format, err := NewFormat(&o)
	if err != nil {
		return nil, err
	}
	dest, err := OpenDestination(ctx, spec, o.Credential, o.Blob)
	if err != nil {
		return nil, err
	}
	return NewSink(dest, format, &o.Sink)
}

// CreateDirectStream is the direct stream of conf's hub, into the sink:
// Resume, eventhubs.CreateDirectStream and Attach, in that order, the
// order they must come in.
func (s *Sink) CreateDirectStream(ctx context.Context, ssc *streaming.Context, conf *eventhubs.Conf) (*eventhubs.DirectStream, Resumed, error) {
	resumed, err := s.Resume(ctx, conf)
	if err != nil {
		return nil, Resumed{}, err
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return nil, Resumed{}, err
	}
	if err := s.Attach(ds); err != nil {
		return nil, Resumed{}, err
	}
	return ds, resumed, nil
}

// String names the sink in messages: its format and destination, without
// secrets.
func (s *Sink) String() string { return s.format.Name() + " files in " + s.dest.String() }
