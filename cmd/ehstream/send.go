package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/eventjson"
)

// maxLine is the longest stdin line send accepts: a 1 MiB event written as
// JSON, with room for escaping.
const maxLine = 4 << 20

// sendConfig is what `ehstream send` sends: stdin's lines to a hub, as
// events with the flags' properties and partition (or key).
type sendConfig struct {
	conf      *eventhubs.Conf
	partition string
	key       string
	props     map[string]any
	asJSON    bool
}

func parseSendFlags(args []string, stderr io.Writer) (*sendConfig, error) {
	fs := newFlagSet("send", stderr)
	h := addHubFlags(fs, false)
	c := &sendConfig{props: map[string]any{}}
	fs.StringVar(&c.partition, "partition", "", "send every event to this partition ID")
	fs.StringVar(&c.key, "partition-key", "", "send every event with this partition key (events with one key land on one partition)")
	fs.Func("property", "application property k=v on every event (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value", s)
		}
		c.props[k] = v
		return nil
	})
	fs.BoolVar(&c.asJSON, "json", false, `read one JSON object per line: {"body": ..., "properties": {...}, "partitionKey": "..."}`)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if c.partition != "" && c.key != "" {
		return nil, usageError{errors.New("--partition and --partition-key cannot be used together: a key picks the partition")}
	}
	var err error
	if c.conf, err = h.conf(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *sendConfig) run(ctx context.Context, std stdio) error {
	producer, err := newProducer(c.conf)
	if err != nil {
		return err
	}
	defer producer.Close(context.WithoutCancel(ctx))
	s := &sender{ctx: ctx, producer: producer, partition: c.partition, hub: c.conf.EventHubName(), timeout: c.conf.OperationTimeout()}
	if err := s.sendLines(readLines(ctx, std), c); err != nil {
		return s.failed(err)
	}
	fmt.Fprintf(std.out, "sent %s to hub %s%s\n", plural(s.sent, "event"), s.hub, s.blankNote())
	return nil
}

// newProducer connects a producer to conf's hub.
func newProducer(conf *eventhubs.Conf) (*azeventhubs.ProducerClient, error) {
	cs, _ := conf.ConnectionString() // valid: hubFlags.conf validated it
	cs.EntityPath = ""               // the hub is passed on its own
	sdkConnStr, err := cs.Build()
	if err != nil {
		return nil, err
	}
	producer, err := azeventhubs.NewProducerClientFromConnectionString(sdkConnStr, conf.EventHubName(), nil)
	if err != nil {
		return nil, fmt.Errorf("connect to hub %q: %v", conf.EventHubName(), err)
	}
	return producer, nil
}

// sendLines sends the event of each line, batching those with one key;
// at the end, and whenever no line is waiting, it sends what it has.
func (s *sender) sendLines(lines <-chan line, c *sendConfig) error {
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
		ev, evKey, err := parseLine(l, c.asJSON, c.props, c.key)
		if err != nil {
			return err
		}
		if ev == nil {
			s.blank++
			continue
		}
		if evKey != "" && c.partition != "" {
			return fmt.Errorf("line %d: a partitionKey cannot be used with --partition", l.n)
		}
		if err := s.add(l.n, ev, evKey); err != nil {
			return err
		}
	}
}

// next is the next line of stdin; ok is false at its end. With none
// waiting, it first sends what it has, so that an interactive sender
// sees each line go out, then waits.
func (s *sender) next(lines <-chan line) (l line, ok bool, err error) {
	select {
	case l, ok = <-lines:
		return l, ok, nil
	default:
	}
	if err := s.flush(); err != nil {
		return line{}, false, err
	}
	select {
	case l, ok = <-lines:
		return l, ok, nil
	case <-s.ctx.Done():
		return line{}, false, s.ctx.Err()
	}
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

// parseLine makes the event of one line; nil for a blank line. The flags'
// properties and key are the event's, where a --json line gives none.
func parseLine(l line, asJSON bool, flagProps map[string]any, flagKey string) (*azeventhubs.EventData, string, error) {
	text := bytes.TrimRight(l.text, "\r")
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, "", nil
	}
	if !asJSON {
		return &azeventhubs.EventData{Body: text, Properties: maps.Clone(flagProps)}, flagKey, nil
	}
	ev, key, err := eventjson.Decode(text)
	if err != nil {
		return nil, "", fmt.Errorf("line %d: %v", l.n, err)
	}
	for k, v := range flagProps {
		if _, ok := ev.Properties[k]; !ok {
			ev.Properties[k] = v
		}
	}
	if key == "" {
		key = flagKey
	}
	return ev, key, nil
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
