package linesend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventjson"
)

// ErrKeyWithPartition is the error of a partition key given with a
// partition ID (Options), or of a JSON line's partitionKey when
// Options.PartitionID is given: a key picks the partition.
var ErrKeyWithPartition = errors.New("a partition key cannot be used with a partition ID: a key picks the partition")

// Options says how lines become events and where they go.
type Options struct {
	// JSON reads each line as an event in eventjson's form
	// (eventjson.Decode). Default: a line's text is the body.
	JSON bool
	// Properties are every event's application properties; a JSON line's
	// own win.
	Properties map[string]any
	// PartitionID sends every event to this partition. Default: the hub
	// picks one by partition key, or any.
	PartitionID string
	// PartitionKey is every event's partition key, where a JSON line names
	// none. Not with PartitionID.
	PartitionKey string
	// Timeout bounds the sending of one batch, its retries included.
	// Default: none beyond ctx.
	Timeout time.Duration
}

// Check refuses options that do not go together: ErrKeyWithPartition.
func (o *Options) Check() error {
	if o.PartitionID != "" && o.PartitionKey != "" {
		return ErrKeyWithPartition
	}
	return nil
}

// Result is what Send did.
type Result struct {
	Sent  int // events sent
	Blank int // blank lines skipped
	// FirstUnsent is, when Send failed, the first line of the events added
	// to a batch and not sent; 0 when none was waiting. Every line before
	// it was sent.
	FirstUnsent int
}

// LineError is a line whose event cannot be sent (not JSON, say, or larger
// than the hub accepts): Err says why. Errors of sending a batch are not
// LineErrors: they are the producer's, wrapped.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Send sends r's lines, until its end, an error or the end of ctx, through
// producer, in batches by partition key. opts may be nil. An error leaves
// the lines after the failed one unread.
func Send(ctx context.Context, producer *azeventhubs.ProducerClient, r io.Reader, opts *Options) (Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := opts.Check(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx) // ends the reading of lines
	defer cancel()
	s := &sender{ctx: ctx, producer: producer, partition: opts.PartitionID, timeout: opts.Timeout}
	err := s.sendLines(readLines(ctx, r), opts)
	if err != nil {
		s.res.FirstUnsent = s.unsent()
	}
	return s.res, err
}

// sendLines sends the event of each line, batching those with one key;
// at the end, and whenever no line is waiting, it sends what it has.
func (s *sender) sendLines(lines <-chan line, opts *Options) error {
	for {
		l, ok, err := s.next(lines)
		if err != nil {
			return err
		}
		if !ok {
			return s.flush()
		}
		if l.err != nil {
			return l.err
		}
		ev, key, err := eventOf(l.text, opts)
		if err != nil {
			return &LineError{Line: l.n, Err: err}
		}
		if ev == nil {
			s.res.Blank++
			continue
		}
		if key != "" && opts.PartitionID != "" {
			return &LineError{Line: l.n, Err: ErrKeyWithPartition}
		}
		if err := s.add(l.n, ev, key); err != nil {
			return err
		}
	}
}

// eventOf makes the event of a line and its partition key; nil for a
// blank line.
func eventOf(text []byte, opts *Options) (*azeventhubs.EventData, string, error) {
	text = bytes.TrimRight(text, "\r")
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, "", nil
	}
	if !opts.JSON {
		return &azeventhubs.EventData{Body: text, Properties: propertiesOf(opts)}, opts.PartitionKey, nil
	}
	ev, key, err := eventjson.Decode(text)
	if err != nil {
		return nil, "", err
	}
	for k, v := range opts.Properties {
		if _, ok := ev.Properties[k]; !ok {
			ev.Properties[k] = v
		}
	}
	if key == "" {
		key = opts.PartitionKey
	}
	return ev, key, nil
}

// propertiesOf is a text line's event's properties: a map of its own.
func propertiesOf(opts *Options) map[string]any {
	if opts.Properties == nil {
		return map[string]any{}
	}
	return maps.Clone(opts.Properties)
}
