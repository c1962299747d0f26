package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/linesend"
)

// sendConfig is what `ehstream send` sends: stdin's lines to a hub, as
// events with the flags' properties and partition (or key).
type sendConfig struct {
	conf *eventhubs.Conf
	opts linesend.Options
}

func parseSendFlags(args []string, stderr io.Writer) (*sendConfig, error) {
	fs := newFlagSet("send", stderr)
	h := addHubFlags(fs, false)
	c := &sendConfig{opts: linesend.Options{Properties: map[string]any{}}}
	fs.StringVar(&c.opts.PartitionID, "partition", "", "send every event to this partition ID")
	fs.StringVar(&c.opts.PartitionKey, "partition-key", "", "send every event with this partition key (events with one key land on one partition)")
	fs.Func("property", "application property k=v on every event (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value", s)
		}
		c.opts.Properties[k] = v
		return nil
	})
	fs.BoolVar(&c.opts.JSON, "json", false, `read one JSON object per line: {"body": ..., "properties": {...}, "partitionKey": "..."}`)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.opts.Check(); err != nil {
		return nil, usageError{errors.New("--partition and --partition-key cannot be used together: a key picks the partition")}
	}
	var err error
	if c.conf, err = h.conf(); err != nil {
		return nil, err
	}
	c.opts.Timeout = c.conf.OperationTimeout()
	return c, nil
}

func (c *sendConfig) run(ctx context.Context, std stdio) error {
	producer, err := newProducer(c.conf)
	if err != nil {
		return err
	}
	defer producer.Close(context.WithoutCancel(ctx))
	res, err := linesend.Send(ctx, producer, std.in, &c.opts)
	hub := c.conf.EventHubName()
	if err != nil {
		return sendFailed(err, res, hub)
	}
	blank := ""
	if res.Blank > 0 {
		blank = fmt.Sprintf(" (skipped %s)", plural(res.Blank, "blank line"))
	}
	fmt.Fprintf(std.out, "sent %s to hub %s%s\n", plural(res.Sent, "event"), hub, blank)
	return nil
}

// newProducer connects a producer to conf's hub.
func newProducer(conf *eventhubs.Conf) (*azeventhubs.ProducerClient, error) {
	producer, err := conf.NewProducerClient()
	if err != nil {
		return nil, fmt.Errorf("connect to hub %q: %w", conf.EventHubName(), err)
	}
	return producer, nil
}

// sendFailed reports what went out before an error, so nothing is lost
// unknowingly: every line before the unsent batch was sent.
func sendFailed(err error, res linesend.Result, hub string) error {
	if le := (*linesend.LineError)(nil); errors.As(err, &le) && errors.Is(le.Err, linesend.ErrKeyWithPartition) {
		err = fmt.Errorf("line %d: a partitionKey cannot be used with --partition", le.Line)
	}
	pending := ""
	if res.FirstUnsent > 0 {
		pending = fmt.Sprintf(" (lines from %d on were not sent)", res.FirstUnsent)
	}
	return fmt.Errorf("%w; %s sent to hub %s before this%s", err, plural(res.Sent, "event"), hub, pending)
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
