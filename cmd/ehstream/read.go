package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/eventjson"
)

// readConfig is what `ehstream read` reads: the --range ranges, every
// partition's events (--all), or every partition's between two positions
// (--from, --until).
type readConfig struct {
	conf        *eventhubs.Conf
	log         *commandLog
	rangeArgs   []string // as typed, for errors
	ranges      []eventhubs.OffsetRange
	all         bool
	byPosition  bool
	from, until eventhubs.EventPosition
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
	from := fs.String("from", "", "read every partition from this position: earliest, latest, seq:N, offset:S or time:RFC3339 (default earliest with --until)")
	until := fs.String("until", "", "read every partition until this position, exclusive; latest is the end now (default latest with --from)")
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
	err = c.check(h, *from, *until,
		confFlag{"--fail-on-data-loss", *failOnDataLoss, func(conf *eventhubs.Conf) { conf.SetFailOnDataLoss(*failOnDataLoss) }},
		confFlag{"--receiver-timeout", *receiverTimeout, func(conf *eventhubs.Conf) { conf.SetReceiverTimeout(*receiverTimeout) }})
	if err != nil {
		return nil, c.log.failed(err)
	}
	return c, nil
}

// check takes what to read, said in one of the three ways, and the Conf
// of the hub flags with settings.
func (c *readConfig) check(h *hubFlags, from, until string, settings ...confFlag) error {
	c.byPosition = from != "" || until != ""
	switch ways := countTrue(len(c.rangeArgs) > 0, c.all, c.byPosition); {
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
	var err error
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
	defer func() { err = c.log.failed(err) }()
	ranges, err := c.plan(ctx)
	if err != nil {
		return err
	}
	rdd, err := eventhubs.CreateRDD(ctx, c.conf, ranges)
	if err != nil {
		return err
	}
	if err := c.write(ctx, rdd, ranges, std); err != nil {
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
	if c.byPosition {
		return eventhubs.OffsetRangesBetween(ctx, c.conf, c.from, c.until)
	}
	hp, err := eventhubs.DescribeHub(ctx, c.conf)
	if err != nil {
		return nil, err
	}
	if !c.all {
		if err := checkRanges(hp, c.rangeArgs, c.ranges); err != nil {
			return nil, err
		}
		return c.ranges, nil
	}
	var ranges []eventhubs.OffsetRange
	for _, b := range hp.Partitions {
		ranges = append(ranges, eventhubs.OffsetRange{Name: c.conf.EventHubName(), PartitionID: b.PartitionID, FromSeqNo: b.First, UntilSeqNo: b.End})
	}
	return ranges, nil
}

// write prints rdd's events as JSON lines, a partition's in order and the
// partitions' interleaved a line at a time; on a terminal, with a
// progress bar (readprogress.go).
func (c *readConfig) write(ctx context.Context, rdd *eventhubs.RDD, ranges []eventhubs.OffsetRange, std stdio) error {
	var bar *readBar
	if n := eventCount(ranges); showReadBar(n, std.out, std.err, c.log.json) {
		bar = newReadBar(std.err, n)
	}
	w := &lockedWriter{w: bufio.NewWriterSize(std.out, 256<<10)}
	err := rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
		return writePartition(p, w, bar)
	})
	if ferr := w.w.Flush(); err == nil {
		err = ferr
	}
	bar.stop()
	return err
}

// lockedWriter takes one line at a time from the partition goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// writePartition writes p's events to w, a line each, counting them on
// the bar.
func writePartition(p *eventhubs.Partition, w io.Writer, bar *readBar) error {
	var buf []byte
	read := 0 // not yet added to the bar
	defer func() { bar.add(read) }()
	for ev, err := range p.Events() {
		if err != nil {
			return err
		}
		if read++; read == 1000 {
			bar.add(read)
			read = 0
		}
		buf, err = eventjson.Append(buf[:0], ev)
		if err != nil {
			return fmt.Errorf("event %d: %v", ev.SequenceNumber, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// eventCount is how many events ranges hold.
func eventCount(ranges []eventhubs.OffsetRange) int64 {
	var n int64
	for _, r := range ranges {
		n += r.UntilSeqNo - r.FromSeqNo
	}
	return n
}

// checkRanges names every --range (as typed) that ends past its partition's
// last event or names no partition, with what the partition holds.
func checkRanges(hp *eventhubs.HubProperties, args []string, ranges []eventhubs.OffsetRange) error {
	var problems []string
	for i, arg := range args {
		r := ranges[i]
		k := slices.Index(hp.PartitionIDs, r.PartitionID)
		if k < 0 {
			problems = append(problems, fmt.Sprintf("--range %s: no such partition: hub %q has partitions %s", arg, hp.Name, strings.Join(hp.PartitionIDs, ", ")))
			continue
		}
		b := hp.Partitions[k]
		if r.UntilSeqNo <= b.End && r.FromSeqNo <= b.End {
			continue
		}
		if b.Empty() {
			problems = append(problems, fmt.Sprintf("--range %s ends past the last event: partition %s of hub %q holds no events (the next will be sequence number %d)",
				arg, r.PartitionID, hp.Name, b.End))
			continue
		}
		problems = append(problems, fmt.Sprintf("--range %s ends past the last event: partition %s of hub %q holds sequence numbers %d to %d (--range %s:%d:%d reads them all)",
			arg, r.PartitionID, hp.Name, b.First, b.End-1, r.PartitionID, b.First, b.End))
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return errors.New(problems[0])
	}
	return fmt.Errorf("%d ranges cannot be read:\n  %s", len(problems), strings.Join(problems, "\n  "))
}
