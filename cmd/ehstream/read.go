package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/eventjson"
	"github.com/ehstream/ehstream/monitor"
)

// readConfig is what `ehstream read` reads: the --range ranges, every
// partition's events (--all), or every partition's between two positions
// (--from, --until); --partition narrows the last two to some partitions.
type readConfig struct {
	conf        *eventhubs.Conf
	log         *commandLog
	rangeArgs   []string // as typed, for errors
	ranges      []eventhubs.OffsetRange
	all         bool
	byPosition  bool
	from, until eventhubs.EventPosition
	partitions  []string // --partition: only these; nil: every partition
	body        *eventjson.AppendOptions
}

func parseReadFlags(args []string, stderr io.Writer) (*readConfig, error) {
	c := &readConfig{from: eventhubs.StartOfStream(), until: eventhubs.EndOfStream()}
	fs := newFlagSet("read", stderr)
	h := addHubFlags(fs, true)
	fs.Func("range", "PARTITION:FROM:UNTIL, sequence numbers from inclusive, until exclusive (repeatable)", func(s string) error {
		c.rangeArgs = append(c.rangeArgs, s)
		return nil
	})
	fs.BoolVar(&c.all, "all", false, "read everything each partition holds now")
	from := fs.String("from", "", "read every partition from this position: earliest, latest, seq:N, offset:S, time:RFC3339 or -DURATION (enqueued since that long ago, e.g. -10m) (default earliest with --until)")
	until := fs.String("until", "", "read every partition until this position, exclusive; latest is the end now, -5m five minutes ago (default latest with --from)")
	fs.Func("partition", "read only this partition (repeatable), with --all, --from and --until, or alone: all it holds", func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("empty: give a partition ID")
		}
		c.partitions = append(c.partitions, s)
		return nil
	})
	body := fs.String("body", string(eventjson.BodyAuto), "how bodies print: auto (a JSON object or array as JSON, other UTF-8 as text, the rest in base64), text (UTF-8 as text, the rest in base64), json, or base64")
	failOnDataLoss := fs.Bool("fail-on-data-loss", true, "fail when events of a range are gone (retention); false skips them and says how many")
	receiverTimeout := fs.Duration("receiver-timeout", eventhubs.DefaultReceiverTimeout, "how long one receive call may wait")
	logFormat := addLogFormatFlag(fs, "text or json: how stderr says what went wrong (json: one JSON object a line, and no progress bar)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	var err error
	if c.log, err = logFormat.open("read", stderr, slog.LevelInfo); err != nil {
		return nil, err
	}
	err = c.check(h, *from, *until, *body,
		confFlag{"--fail-on-data-loss", *failOnDataLoss, func(conf *eventhubs.Conf) { conf.SetFailOnDataLoss(*failOnDataLoss) }},
		confFlag{"--receiver-timeout", *receiverTimeout, func(conf *eventhubs.Conf) { conf.SetReceiverTimeout(*receiverTimeout) }})
	if err != nil {
		return nil, c.log.failed(err)
	}
	return c, nil
}

// check takes what to read, said in one of the three ways, how to print
// bodies, and the Conf of the hub flags with settings.
func (c *readConfig) check(h *hubFlags, from, until, body string, settings ...confFlag) error {
	format, err := eventjson.ParseBodyFormat(body)
	if err != nil {
		return usageError{fmt.Errorf("--body %q: want auto, text, json or base64", body)}
	}
	c.body = &eventjson.AppendOptions{Body: format}
	c.byPosition = from != "" || until != ""
	switch ways := countTrue(len(c.rangeArgs) > 0, c.all, c.byPosition); {
	case len(c.partitions) > 0 && len(c.rangeArgs) > 0:
		return usageError{errors.New("--partition with --range: --range names its partitions; give one or the other")}
	case ways == 0 && len(c.partitions) > 0:
		c.all = true // a partition alone: all it holds
	case ways == 0:
		return usageError{errors.New("nothing to read: give --range PARTITION:FROM:UNTIL (repeatable), --all, or --from and --until positions")}
	case ways > 1:
		return usageError{errors.New("--range, --all and --from/--until are three ways to say what to read: give one")}
	}
	if err := parsePositionFlag("--from", from, &c.from); err != nil {
		return err
	}
	if err := parsePositionFlag("--until", until, &c.until); err != nil {
		return err
	}
	if c.conf, err = h.conf(); err != nil {
		return err
	}
	if err := setConfFlags(c.conf, settings...); err != nil {
		return err
	}
	for _, s := range c.rangeArgs {
		r, err := eventhubs.ParseOffsetRange(c.conf.EventHubName(), s)
		if err != nil {
			return usageError{fmt.Errorf("--range: %v", err)}
		}
		c.ranges = append(c.ranges, r)
	}
	return nil
}

func countTrue(conds ...bool) int {
	n := 0
	for _, b := range conds {
		if b {
			n++
		}
	}
	return n
}

// parsePositionFlag parses arg, the value of flag, into *pos; "" leaves
// *pos as it is.
func parsePositionFlag(flag, arg string, pos *eventhubs.EventPosition) error {
	if arg == "" {
		return nil
	}
	p, err := eventhubs.ParseEventPosition(arg)
	if err != nil {
		return usageError{fmt.Errorf("%s: %s", flag, problem(err))}
	}
	*pos = p
	return nil
}

func (c *readConfig) run(ctx context.Context, std stdio) (err error) {
	defer func() { err = c.log.failed(explainReadError(err, c.conf.ConsumerGroup())) }()
	ranges, err := c.plan(ctx)
	if err != nil {
		return err
	}
	rdd, err := eventhubs.CreateRDD(ctx, c.conf, ranges)
	if err != nil {
		return err
	}
	if err := c.write(ctx, rdd, std); err != nil {
		return err
	}
	if n := rdd.Skipped(); n > 0 && c.log.json {
		c.log.Warn("ehstream read: events were gone (retention) and skipped", "skipped", n)
	} else if n > 0 {
		fmt.Fprintf(std.err, "ehstream read: %d events were gone (retention) and skipped\n", n)
	}
	return nil
}

// plan is the ranges to read. Every range is checked before any is read,
// and one the hub cannot serve fails the whole command with nothing
// printed: output followed by an error is easily taken for the whole
// answer by a pipeline or a redirect, and a mistyped range should cost
// nothing. (Events removed by retention while reading can still end a
// read midway: the error says so.)
func (c *readConfig) plan(ctx context.Context) ([]eventhubs.OffsetRange, error) {
	if c.byPosition && c.partitions == nil {
		return eventhubs.OffsetRangesBetween(ctx, c.conf, c.from, c.until)
	}
	hp, err := eventhubs.DescribeHub(ctx, c.conf)
	if err != nil {
		return nil, err
	}
	if err := hp.CheckPartitions(c.partitions); err != nil {
		return nil, flagProblems(err, nil)
	}
	switch {
	case c.byPosition:
		return eventhubs.PartitionRangesBetween(ctx, c.conf, c.partitions, c.from, c.until)
	case !c.all:
		if err := hp.CheckRanges(c.ranges); err != nil {
			return nil, flagProblems(err, c.rangeArgs)
		}
		return c.ranges, nil
	}
	return hp.RangesHeld(c.conf.EventHubName(), c.partitions)
}

// explainReadError says in flags what to do about a partition that a
// running stream holds, which eventhubs says in Go calls.
func explainReadError(err error, group string) error {
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeOwnershipLost {
		return err
	}
	return &eventhubs.Error{Code: e.Code, Hub: e.Hub, PartitionID: e.PartitionID, Err: e.Err,
		Message: fmt.Sprintf("another reader holds the partition exclusively (owner level) in consumer group %q, a running stream most likely; "+
			"read leaves it alone: read with another consumer group, --consumer-group NAME (sequence numbers, offsets and enqueued times are the same in all)", group)}
}

// write prints rdd's events as JSON lines (eventjson.WriteRDD); on a
// terminal, with a progress bar (monitor.Bar; when: readprogress.go).
func (c *readConfig) write(ctx context.Context, rdd *eventhubs.RDD, std stdio) error {
	var bar *monitor.Bar
	if n := rdd.Count(); showReadBar(n, std.out, std.err, c.log.json) {
		bar = monitor.NewBar(std.err, n)
	}
	err := eventjson.WriteRDD(ctx, rdd, std.out, &eventjson.WriteOptions{Append: c.body, Progress: bar.Add})
	bar.Stop()
	return err
}

// flagProblems says the problems of the ranges or partitions a hub
// cannot serve (eventhubs.RangeProblems, UnknownPartitions) in terms of
// --range, as typed in args, and --partition.
func flagProblems(err error, args []string) error {
	var rs eventhubs.RangeProblems
	var ps eventhubs.UnknownPartitions
	switch {
	case errors.As(err, &rs):
		return errors.New(rs.Describe("--range", args))
	case errors.As(err, &ps):
		return errors.New(ps.Describe("--partition"))
	}
	return err
}
