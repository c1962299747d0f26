package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/sqlsink"
)

func runRead(ctx context.Context, args []string, std stdio) (err error) {
	fs := newFlagSet("read", std.err)
	h := addHubFlags(fs, true)
	var rangeArgs []string
	fs.Func("range", "PARTITION:FROM:UNTIL, sequence numbers from inclusive, until exclusive (repeatable)", func(s string) error {
		rangeArgs = append(rangeArgs, s)
		return nil
	})
	all := fs.Bool("all", false, "read everything each partition holds now")
	fromArg := fs.String("from", "", "read every partition from this position: earliest, latest, seq:N, offset:S or time:RFC3339 (default earliest with --until)")
	untilArg := fs.String("until", "", "read every partition until this position, exclusive; latest is the end now (default latest with --from)")
	failOnDataLoss := fs.Bool("fail-on-data-loss", true, "fail when events of a range are gone (retention); false skips them and says how many")
	receiverTimeout := fs.Duration("receiver-timeout", eventhubs.DefaultReceiverTimeout, "how long one receive call may wait")
	logFormat := addLogFormatFlag(fs, "text or json: how stderr says what went wrong (json: one JSON object a line, and no progress bar)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := logFormat.check(); err != nil {
		return err
	}
	log := logFormat.logger(std.err, slog.LevelInfo)
	defer func() { err = logFormat.failed(log, "read", err) }()
	byPosition := *fromArg != "" || *untilArg != ""
	ways := 0
	for _, given := range []bool{len(rangeArgs) > 0, *all, byPosition} {
		if given {
			ways++
		}
	}
	if ways == 0 {
		return usageError{errors.New("nothing to read: give --range PARTITION:FROM:UNTIL (repeatable), --all, or --from and --until positions")}
	}
	if ways > 1 {
		return usageError{errors.New("--range, --all and --from/--until are three ways to say what to read: give one")}
	}
	from, until := eventhubs.StartOfStream(), eventhubs.EndOfStream()
	for _, p := range []struct {
		flag, arg string
		pos       *eventhubs.EventPosition
	}{{"--from", *fromArg, &from}, {"--until", *untilArg, &until}} {
		if p.arg == "" {
			continue
		}
		pos, err := eventhubs.ParseEventPosition(p.arg)
		if err != nil {
			return usageError{fmt.Errorf("%s: %s", p.flag, err.(*eventhubs.Error).Message)}
		}
		*p.pos = pos
	}
	if *receiverTimeout <= 0 {
		return usageError{fmt.Errorf("--receiver-timeout %s: want a positive duration", *receiverTimeout)}
	}
	conf, err := h.conf()
	if err != nil {
		return err
	}
	conf.SetFailOnDataLoss(*failOnDataLoss).SetReceiverTimeout(*receiverTimeout)
	hub := conf.EventHubName()

	var ranges []eventhubs.OffsetRange
	for _, s := range rangeArgs {
		r, err := eventhubs.ParseOffsetRange(hub, s)
		if err != nil {
			return usageError{fmt.Errorf("--range: %v", err)}
		}
		ranges = append(ranges, r)
	}
	// Every range is checked before any is read, and one the hub cannot
	// serve fails the whole command with nothing printed: output followed
	// by an error is easily taken for the whole answer by a pipeline or a
	// redirect, and a mistyped range should cost nothing. (Events removed
	// by retention while reading can still end a read midway: the error
	// says so.)
	if byPosition {
		if ranges, err = eventhubs.OffsetRangesBetween(ctx, conf, from, until); err != nil {
			return err
		}
	} else {
		hp, err := eventhubs.DescribeHub(ctx, conf)
		if err != nil {
			return err
		}
		if *all {
			for _, b := range hp.Partitions {
				ranges = append(ranges, eventhubs.OffsetRange{Name: hub, PartitionID: b.PartitionID, FromSeqNo: b.First, UntilSeqNo: b.End})
			}
		}
		if err := checkRanges(hp, rangeArgs, ranges); err != nil {
			return err
		}
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		return err
	}

	var bar *readBar // on a terminal, for many events: readprogress.go
	if n := eventCount(ranges); showReadBar(n, std.out, std.err, logFormat.json()) {
		bar = newReadBar(std.err, n)
	}
	w := bufio.NewWriterSize(std.out, 256<<10)
	var mu sync.Mutex // one line at a time from the partition goroutines
	err = rdd.ForeachPartition(ctx, func(ctx context.Context, p *eventhubs.Partition) error {
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
			buf, err = appendEventJSON(buf[:0], ev)
			if err != nil {
				return fmt.Errorf("event %d: %v", ev.SequenceNumber, err)
			}
			mu.Lock()
			_, err = w.Write(buf)
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	bar.stop()
	if err != nil {
		return err
	}
	if n := rdd.Skipped(); n > 0 && logFormat.json() {
		log.Warn("ehstream read: events were gone (retention) and skipped", "skipped", n)
	} else if n > 0 {
		fmt.Fprintf(std.err, "ehstream read: %d events were gone (retention) and skipped\n", n)
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

// eventJSON is one line of read's output.
type eventJSON struct {
	Partition      string         `json:"partition"`
	SequenceNumber int64          `json:"sequenceNumber"`
	Offset         string         `json:"offset"`
	EnqueuedTime   string         `json:"enqueuedTime"`
	PartitionKey   *string        `json:"partitionKey"`
	ContentType    string         `json:"contentType,omitempty"`
	MessageID      string         `json:"messageId,omitempty"`
	Properties     map[string]any `json:"properties"`
	Body           string         `json:"body"`
	BodyEncoding   string         `json:"bodyEncoding,omitempty"`
}

func appendEventJSON(dst []byte, ev *eventhubs.Event) ([]byte, error) {
	out := eventJSON{
		Partition:      ev.PartitionID,
		SequenceNumber: ev.SequenceNumber,
		Offset:         ev.Offset,
		EnqueuedTime:   ev.EnqueuedTime.UTC().Format(time.RFC3339Nano),
		ContentType:    ev.ContentType,
		MessageID:      ev.MessageID,
		Properties:     ev.Properties,
	}
	if ev.PartitionKey != "" {
		out.PartitionKey = &ev.PartitionKey
	}
	if out.Properties == nil {
		out.Properties = map[string]any{}
	}
	if utf8.Valid(ev.Body) {
		out.Body = string(ev.Body)
	} else {
		out.Body = base64.StdEncoding.EncodeToString(ev.Body)
		out.BodyEncoding = "base64"
	}
	b, err := json.Marshal(out)
	if err != nil {
		out.Properties = sqlsink.JSONSafeProperties(out.Properties)
		if b, err = json.Marshal(out); err != nil {
			return dst, err
		}
	}
	return append(append(dst, b...), '\n'), nil
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
