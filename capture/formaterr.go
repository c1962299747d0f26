package capture

import "fmt"

// FormatCode is a stable code for a class of FormatError; switch on it
// with errors.As. New codes may be added; existing ones keep their
// meaning.
type FormatCode string

const (
	// CodeInvalidOptions: a format's options are out of range or unknown
	// (a codec, a compression, a row group size).
	CodeInvalidOptions FormatCode = "invalid-options"
	// CodeInvalidColumns: a --columns spec does not parse. The message
	// names the bad entry and the form it should have.
	CodeInvalidColumns FormatCode = "invalid-columns"
	// CodeWrite: encoding an event or writing the file failed; Err holds
	// the cause (the writer's error, the encoder's).
	CodeWrite FormatCode = "write"
)

// FormatError is the error of a file format: its options, its --columns
// spec, or writing a file.
type FormatError struct {
	Code   FormatCode
	Format string // "avro", "parquet"
	// Message says what went wrong, with the values involved, and the cure.
	Message string
	Err     error
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("capture: %s: %s", e.Format, e.Message)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }
