package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// maxLine is the longest stdin line send accepts: a 1 MiB event written as
// JSON, with room for escaping.
const maxLine = 4 << 20

func runSend(ctx context.Context, args []string, std stdio) error {
	fs := newFlagSet("send", std.err)
	h := addHubFlags(fs, false)
	partition := fs.String("partition", "", "send every event to this partition ID")
	key := fs.String("partition-key", "", "send every event with this partition key (events with one key land on one partition)")
	props := map[string]any{}
	fs.Func("property", "application property k=v on every event (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value", s)
		}
		props[k] = v
		return nil
	})
	asJSON := fs.Bool("json", false, `read one JSON object per line: {"body": ..., "properties": {...}, "partitionKey": "..."}`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *partition != "" && *key != "" {
		return usageError{errors.New("--partition and --partition-key cannot be used together: a key picks the partition")}
	}
	conf, err := h.conf()
	if err != nil {
		return err
	}
	cs, _ := conf.ConnectionString()
	cs.EntityPath = "" // the hub is passed on its own
	sdkConnStr, err := cs.Build()
	if err != nil {
		return err
	}
	producer, err := azeventhubs.NewProducerClientFromConnectionString(sdkConnStr, conf.EventHubName(), nil)
	if err != nil {
		return fmt.Errorf("connect to hub %q: %v", conf.EventHubName(), err)
	}
	defer producer.Close(context.WithoutCancel(ctx))

	s := &sender{ctx: ctx, producer: producer, partition: *partition, hub: conf.EventHubName(), timeout: conf.OperationTimeout()}
	lines := readLines(ctx, std)
	for {
		var l line
		var ok bool
		select {
		case l, ok = <-lines:
		default:
			// Nothing waiting on stdin: send what we have, so an
			// interactive sender sees each line go out, then block.
			if err := s.flush(); err != nil {
				return s.failed(err)
			}
			select {
			case l, ok = <-lines:
			case <-ctx.Done():
				return s.failed(ctx.Err())
			}
		}
		if !ok {
			break
		}
		if l.err != nil {
			return s.failed(l.err)
		}
		ev, evKey, err := parseLine(l, *asJSON, props, *key)
		if err != nil {
			return s.failed(err)
		}
		if ev == nil {
			s.blank++
			continue
		}
		if evKey != "" && *partition != "" {
			return s.failed(fmt.Errorf("line %d: a partitionKey cannot be used with --partition", l.n))
		}
		if err := s.add(l.n, ev, evKey); err != nil {
			return s.failed(err)
		}
	}
	if err := s.flush(); err != nil {
		return s.failed(err)
	}
	fmt.Fprintf(std.out, "sent %s to hub %s%s\n", plural(s.sent, "event"), s.hub, s.blankNote())
	return nil
}

type line struct {
	n    int
	text []byte
	err  error
}

// readLines feeds stdin's lines to a channel, so the sender can tell when
// none are waiting.
func readLines(ctx context.Context, std stdio) <-chan line {
	ch := make(chan line, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(std.in)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		n := 0
		for sc.Scan() {
			n++
			select {
			case ch <- line{n: n, text: bytes.Clone(sc.Bytes())}:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("line %d is longer than %d bytes", n+1, maxLine)
			}
			select {
			case ch <- line{n: n + 1, err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return ch
}

// sendLine is the --json form of one event.
type sendLine struct {
	Body         json.RawMessage `json:"body"`
	Properties   map[string]any  `json:"properties"`
	PartitionKey string          `json:"partitionKey"`
	ContentType  string          `json:"contentType"`
	MessageID    string          `json:"messageId"`
}

// parseLine makes the event of one line; nil for a blank line.
func parseLine(l line, asJSON bool, flagProps map[string]any, flagKey string) (*azeventhubs.EventData, string, error) {
	text := bytes.TrimRight(l.text, "\r")
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, "", nil
	}
	props := map[string]any{}
	for k, v := range flagProps {
		props[k] = v
	}
	if !asJSON {
		return &azeventhubs.EventData{Body: text, Properties: props}, flagKey, nil
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var sl sendLine
	if err := dec.Decode(&sl); err != nil {
		return nil, "", fmt.Errorf("line %d: not a JSON event: %v", l.n, err)
	}
	if dec.More() {
		return nil, "", fmt.Errorf("line %d: more than one JSON value", l.n)
	}
	ev := &azeventhubs.EventData{Properties: props}
	switch {
	case len(sl.Body) == 0 || string(sl.Body) == "null":
		return nil, "", fmt.Errorf("line %d: no \"body\"", l.n)
	case sl.Body[0] == '"':
		var s string
		if err := json.Unmarshal(sl.Body, &s); err != nil {
			return nil, "", fmt.Errorf("line %d: body: %v", l.n, err)
		}
		ev.Body = []byte(s)
	default: // any other JSON value is sent as its JSON text
		var b bytes.Buffer
		if err := json.Compact(&b, sl.Body); err != nil {
			return nil, "", fmt.Errorf("line %d: body: %v", l.n, err)
		}
		ev.Body = b.Bytes()
	}
	for k, v := range sl.Properties {
		pv, err := propertyValue(v)
		if err != nil {
			return nil, "", fmt.Errorf("line %d: property %q: %v", l.n, k, err)
		}
		props[k] = pv
	}
	if sl.ContentType != "" {
		ev.ContentType = &sl.ContentType
	}
	if sl.MessageID != "" {
		ev.MessageID = &sl.MessageID
	}
	key := flagKey
	if sl.PartitionKey != "" {
		key = sl.PartitionKey
	}
	return ev, key, nil
}

// propertyValue maps a JSON value to an AMQP application property: whole
// numbers become long, others double; objects and arrays are not allowed
// (AMQP application properties are simple values).
func propertyValue(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is not a number AMQP can carry", v)
		}
		return f, nil
	case string, bool:
		return v, nil
	case nil:
		return nil, errors.New("null is not allowed")
	default:
		return nil, errors.New("objects and arrays are not allowed; use a string")
	}
}

// sender batches events with the same partition key.
type sender struct {
	ctx       context.Context
	producer  *azeventhubs.ProducerClient
	partition string
	hub       string
	timeout   time.Duration

	batch    *azeventhubs.EventDataBatch
	batchKey string
	firstN   int // the first line in the batch
	sent     int
	blank    int
}

func (s *sender) add(n int, ev *azeventhubs.EventData, key string) error {
	if s.batch != nil && key != s.batchKey {
		if err := s.flush(); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if s.batch == nil {
			opts := &azeventhubs.EventDataBatchOptions{}
			if s.partition != "" {
				opts.PartitionID = &s.partition
			}
			if key != "" {
				opts.PartitionKey = &key
			}
			b, err := s.producer.NewEventDataBatch(s.ctx, opts)
			if err != nil {
				return sendError(err, s.partition)
			}
			s.batch, s.batchKey, s.firstN = b, key, n
		}
		err := s.batch.AddEventData(ev, nil)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, azeventhubs.ErrEventDataTooLarge) && s.batch.NumEvents() > 0 && attempt == 0:
			if err := s.flush(); err != nil {
				return err
			}
		case errors.Is(err, azeventhubs.ErrEventDataTooLarge):
			return fmt.Errorf("line %d: the event (%d bytes of body) is larger than the hub accepts", n, len(ev.Body))
		default:
			return fmt.Errorf("line %d: %v", n, err)
		}
	}
}

func (s *sender) flush() error {
	if s.batch == nil || s.batch.NumEvents() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	if err := s.producer.SendEventDataBatch(ctx, s.batch, nil); err != nil {
		return sendError(err, s.partition)
	}
	s.sent += int(s.batch.NumEvents())
	s.batch = nil
	return nil
}

// failed reports what went out before an error, so nothing is lost
// unknowingly: every line before the unsent batch was sent.
func (s *sender) failed(err error) error {
	pending := ""
	if s.batch != nil && s.batch.NumEvents() > 0 {
		pending = fmt.Sprintf(" (lines from %d on were not sent)", s.firstN)
	}
	return fmt.Errorf("%w; %s sent to hub %s before this%s", err, plural(s.sent, "event"), s.hub, pending)
}

func (s *sender) blankNote() string {
	if s.blank == 0 {
		return ""
	}
	return fmt.Sprintf(" (skipped %s)", plural(s.blank, "blank line"))
}

func sendError(err error, partition string) error {
	if partition != "" {
		return fmt.Errorf("send to partition %s: %w", partition, err)
	}
	return fmt.Errorf("send: %w", err)
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
