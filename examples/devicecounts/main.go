// Command devicecounts counts events per device and clock minute of the
// time each event happened (its event time), into a table of PostgreSQL
// or SQLite, exactly once, and runs as one process or as replicas that
// share the hub's partitions.
//
//	go run ./examples/devicecounts                  # a local Event Hubs with sample events, SQLite
//	                                                # (each run sends the next 10 minutes of them)
//	EVENTHUB_CONNECTION_STRING='Endpoint=sb://...;EntityPath=telemetry' \
//	  go run ./examples/devicecounts -db postgres://user:pass@host/db -ownership postgres://user:pass@host/db -owner-id replica-1
//
// Events are JSON objects with a "device" and a "time", the time in RFC
// 3339 ("2025-01-02T15:04:05.123Z") or Unix milliseconds (1735830245123).
// An event without a readable time is bad input: it counts in no window,
// but in the table device_bad_events, in the batch's transaction, so that
// nothing is dropped unseen. (Falling back to the enqueued time would
// mix two clocks: one event enqueued now among events from devices that
// send an hour late would move the watermark an hour on, and make all of
// them late.) An event without a device counts as device "(unknown)".
//
// The pipeline: eventhubs.Events, then streaming.ReduceByKeyAndEventTimeWindow
// with 1 minute tumbling windows in append mode (each window's count is
// written once, when the watermark, the largest event time seen minus
// -lateness, passes the window's end), its state kept per Event Hubs
// partition beside the job's positions (streaming.KeepStatePerPartition
// with offsets.Store.PartitionState), and one output that writes each
// batch's counts, late items and positions in one transaction
// (offsets.Store.CommitBatch).
//
// Keys are partition-local: each partition keeps its own windows and
// watermark, so a device whose events are spread over partitions gets,
// for one minute, one count from each partition, emitted when that
// partition's watermark passes the minute. The output merges them with an
// upsert that adds:
//
//	INSERT INTO device_counts (window_start, device, events, late) VALUES (...)
//	ON CONFLICT (window_start, device) DO UPDATE SET
//	  events = device_counts.events + excluded.events, late = device_counts.late + excluded.late
//
// so the row of a (minute, device) is the sum over partitions. Late items
// (behind their partition's watermark when read; the window's Late
// stream) are added to the late column of their minute and device in the
// same transaction: events + late is the number of the device's events
// in that minute. A partition's state moves with it: the replica that
// gains it loads its windows with its position, and a batch replayed
// after a crash is not written twice.
//
// Files: main.go (flags, databases, the run), pipeline.go (the stream and
// its output), event.go (an event's device and time), localhub.go (the
// local Event Hubs with sample events).
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/ownership"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func main() {
	// No signal context: cancelling one abandons the running batch; the
	// stream turns SIGINT and SIGTERM into a graceful stop itself
	// (RunUntilSignal).
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devicecounts:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	connStr, db, data, ownership, ownerID, job string
	interval, lateness                         time.Duration
	ownershipInterval, ownershipExpiration     time.Duration
	rate                                       int64
	untilIdle                                  bool
	given                                      map[string]bool // the flags given
}

func parseFlags(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("devicecounts", flag.ContinueOnError)
	fs.SetOutput(out)
	host, _ := os.Hostname()
	var o options
	fs.StringVar(&o.connStr, "connection-string", os.Getenv("EVENTHUB_CONNECTION_STRING"), "Event Hubs connection string with EntityPath (none: a local Event Hubs with sample events)")
	fs.StringVar(&o.db, "db", "devicecounts.db", "the database of the counts, positions and state: a postgres:// URL or a SQLite file (sqlite:PATH or PATH)")
	fs.StringVar(&o.data, "data", "devicecounts-data", "with the local Event Hubs: where it keeps its events")
	fs.StringVar(&o.ownership, "ownership", "", "share the partitions with other replicas through this ownership store: a postgres:// URL, sqlite:PATH or blob:CONNECTION-STRING/CONTAINER (none: this process reads every partition)")
	fs.StringVar(&o.ownerID, "owner-id", fmt.Sprintf("%s-%d", host, os.Getpid()), "with -ownership: this replica's name in the ownership records, unique per replica")
	fs.DurationVar(&o.ownershipInterval, "ownership-interval", 10*time.Second, "with -ownership: how often a replica renews and balances its claims")
	fs.DurationVar(&o.ownershipExpiration, "ownership-expiration", time.Minute, "with -ownership: how long a claim holds without renewal (a killed replica's partitions move after it)")
	fs.StringVar(&o.job, "job", "devicecounts", "the job's name: its positions and state in the database")
	fs.DurationVar(&o.interval, "batch-interval", time.Second, "batch interval (with the local Event Hubs: 200ms)")
	fs.Int64Var(&o.rate, "max-rate-per-partition", 1000, "events per partition per batch, at most (with the local Event Hubs: 100)")
	fs.DurationVar(&o.lateness, "lateness", 30*time.Second, "allowed lateness: how far behind the largest event time of its partition an event may be and still count in its minute")
	fs.BoolVar(&o.untilIdle, "until-idle", false, "stop after 3 batches in a row that read nothing (always with the local Event Hubs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: every setting is a flag (-help lists them)", fs.Arg(0))
	}
	return o, o.check()
}

// check names a bad flag's value and the cure.
func (o options) check() error {
	switch {
	case o.interval <= 0:
		return fmt.Errorf("-batch-interval %s: want a positive duration, e.g. 1s", o.interval)
	case o.rate <= 0:
		return fmt.Errorf("-max-rate-per-partition %d: want a positive number of events", o.rate)
	case o.lateness < 0:
		return fmt.Errorf("-lateness %s: want 0 or a positive duration, e.g. 30s", o.lateness)
	case strings.TrimSpace(o.job) == "":
		return errors.New("-job is empty: name the job, e.g. -job devicecounts")
	case o.ownership == "":
		return nil
	case strings.TrimSpace(o.ownerID) == "":
		return errors.New("-owner-id is empty: give each replica its own name")
	case o.ownershipInterval <= 0:
		return fmt.Errorf("-ownership-interval %s: want a positive duration, e.g. 10s", o.ownershipInterval)
	case o.ownershipExpiration <= o.ownershipInterval:
		return fmt.Errorf("-ownership-expiration %s: must exceed -ownership-interval %s", o.ownershipExpiration, o.ownershipInterval)
	}
	if err := ownership.CheckSpec(o.ownership); err != nil {
		return fmt.Errorf("-ownership: %w", err)
	}
	return nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	db, err := openDB(o.db)
	if err != nil {
		return err
	}
	defer db.Close()
	if o.connStr == "" {
		srv, err := localHub(ctx, o.data, 2000)
		if err != nil {
			return err
		}
		defer srv.Close()
		// Done reading: close the stream's connections while the hub is up.
		defer eventhubs.CloseAll(context.Background())
		o.connStr, o.untilIdle = srv.ConnectionString("telemetry"), true
		// Small batches, so that the sample's old readings come in a later
		// batch than the rest, behind the watermark: late.
		if !o.given["max-rate-per-partition"] {
			o.rate = 100
		}
		if !o.given["batch-interval"] {
			o.interval = 200 * time.Millisecond
		}
	}
	if err := stream(ctx, db, o, out); err != nil {
		return err
	}
	return printCounts(ctx, db, out)
}

// openDB opens -db: a postgres:// URL, or a SQLite file.
func openDB(spec string) (*sql.DB, error) {
	switch {
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return sql.Open("pgx", spec)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("-db %s: want a postgres:// URL or a SQLite file path", spec[:strings.Index(spec, "://")+3])
	case strings.TrimPrefix(spec, "sqlite:") == "":
		return nil, errors.New("-db is empty: give a SQLite file, e.g. -db devicecounts.db, or a postgres:// URL")
	}
	path := strings.TrimPrefix(spec, "sqlite:")
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
}

// printCounts prints the table's last 15 minutes: a line per minute, its
// devices' counts.
func printCounts(ctx context.Context, db *sql.DB, out io.Writer) error {
	rows, err := db.QueryContext(ctx, `SELECT window_start, device, events, late FROM device_counts
		WHERE window_start IN (SELECT DISTINCT window_start FROM device_counts ORDER BY window_start DESC LIMIT 15)
		ORDER BY window_start, device`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var line strings.Builder
	last := ""
	for rows.Next() {
		var start, device string
		var events, late int64
		if err := rows.Scan(&start, &device, &events, &late); err != nil {
			return err
		}
		if start != last {
			if line.Len() > 0 {
				fmt.Fprintln(out, line.String())
			}
			line.Reset()
			fmt.Fprintf(&line, "minute %s:", start)
			last = start
		}
		fmt.Fprintf(&line, " %s=%d", device, events)
		if late > 0 {
			fmt.Fprintf(&line, "(+%d late)", late)
		}
	}
	if line.Len() > 0 {
		fmt.Fprintln(out, line.String())
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := printBad(ctx, db, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "(a minute is written once the watermark passes its end: the last minutes stay open until later events arrive)")
	return nil
}

// printBad prints the events counted in no minute, for want of a time.
func printBad(ctx context.Context, db *sql.DB, out io.Writer) error {
	rows, err := db.QueryContext(ctx, `SELECT device, events FROM device_bad_events ORDER BY device`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var device string
		var n int64
		if err := rows.Scan(&device, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "without a readable time, in no minute: %s=%d\n", device, n)
	}
	return rows.Err()
}
