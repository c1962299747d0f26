// Command lagmonitor prints how far a job is behind its hub, per partition:
// the events after the positions the job committed to its offsets store
// (package offsets), and how long the oldest of them has waited. It reads
// without an owner level, so it never disturbs the job.
//
//	go run ./examples/lagmonitor        # a local Event Hubs, a job that read part of it, in-memory SQLite
//	EVENTHUB_CONNECTION_STRING='Endpoint=sb://...;EntityPath=telemetry' \
//	  go run ./examples/lagmonitor -db postgres://user:pass@localhost/db -job device-counts -consumer-group monitor -every 10s
//
// A running job holds the partitions of its consumer group, which keeps
// readers without an owner level out: read with a consumer group of the
// monitor's own (-consumer-group) to see a running job's time lag.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lagmonitor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("lagmonitor", flag.ContinueOnError)
	connStr := fs.String("connection-string", os.Getenv("EVENTHUB_CONNECTION_STRING"), "Event Hubs connection string (default $EVENTHUB_CONNECTION_STRING; none: a local Event Hubs and a job that read part of it)")
	hub := fs.String("hub", "", "event hub name, when the connection string has no EntityPath")
	dbSpec := fs.String("db", "", "the job's offsets store: sqlite:PATH or a postgres:// URL (needed with a connection string)")
	jobName := fs.String("job", "device-counts", "the job's name in the store")
	jobGroup := fs.String("job-consumer-group", eventhubs.DefaultConsumerGroup, "the consumer group the job reads")
	group := fs.String("consumer-group", "", "the consumer group to read oldest unread events with (default: the job's; a running job holds it)")
	every := fs.Duration("every", 0, "print the lag again at this interval until Ctrl-C (0: once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *every < 0 {
		return fmt.Errorf("-every %s: want a positive interval, or 0 for once", *every)
	}

	var db *sql.DB
	var err error
	if *connStr == "" {
		if *dbSpec != "" {
			return errors.New("-db without a connection string: the local job keeps its positions in memory")
		}
		var stopLocal func()
		*connStr, db, stopLocal, err = localJob(ctx, *jobName)
		if err != nil {
			return err
		}
		defer stopLocal()
		if *group == "" {
			*group = "monitor" // the job's group may still be held
		}
	} else {
		if db, err = openDB(*dbSpec); err != nil {
			return err
		}
		defer db.Close()
	}
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	job, err := offsets.JobFor(*jobName, eventhubs.NewConf(*connStr).SetEventHubName(*hub).SetConsumerGroup(*jobGroup))
	if err != nil {
		return err
	}
	if *group == "" {
		*group = *jobGroup
	}
	readConf := eventhubs.NewConf(*connStr).SetEventHubName(*hub).SetConsumerGroup(*group)

	for {
		lags, err := store.Lag(ctx, job, readConf)
		if err != nil {
			return err
		}
		printLag(out, job, *group, lags, time.Now())
		if *every == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

// printLag prints how far job is behind, per partition, as read with
// consumer group group at now.
func printLag(out io.Writer, job offsets.Job, group string, lags []eventhubs.PartitionLag, now time.Time) {
	fmt.Fprintf(out, "job %q (hub %s, consumer group %s) at %s, read with consumer group %s:\n",
		job.Name, job.EventHub, job.ConsumerGroup, now.UTC().Format(time.RFC3339), group)
	for _, l := range lags {
		switch {
		case l.Events <= 0:
			fmt.Fprintf(out, "partition %s: caught up\n", l.PartitionID)
		case l.Err != nil:
			fmt.Fprintf(out, "partition %s: %d events behind, oldest unread unknown: %v\n", l.PartitionID, l.Events, l.Err)
		default:
			fmt.Fprintf(out, "partition %s: %d events behind, oldest unread enqueued %s (%s ago)\n", l.PartitionID, l.Events,
				l.OldestUnread.Format(time.RFC3339Nano), l.TimeLag(now).Round(time.Millisecond))
		}
	}
}

func openDB(spec string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		return sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(10000)")
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return sql.Open("pgx", spec)
	}
	return nil, fmt.Errorf("-db %q: want sqlite:PATH or a postgres:// URL", spec)
}

// localJob starts an in-memory Event Hubs with hub "telemetry" (4
// partitions, consumer groups $Default and monitor) holding 500 events per
// partition, and runs a job named name over it for two batches of 100
// events per partition, committing its positions to an in-memory SQLite
// database as a real job would. It returns the hub's connection string
// and the database.
func localJob(ctx context.Context, name string) (string, *sql.DB, func(), error) {
	srv, err := emulator.Start(ctx, &emulator.Config{
		Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: 4, ConsumerGroups: []string{"monitor"}}},
	})
	if err != nil {
		return "", nil, nil, err
	}
	// One connection: each connection to ":memory:" is a database of its own.
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		srv.Close()
		return "", nil, nil, err
	}
	db.SetMaxOpenConns(1)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eventhubs.CloseAll(ctx)
		db.Close()
		srv.Close()
	}
	cs := srv.ConnectionString("telemetry")
	if err := send(ctx, cs, 4, 500); err != nil {
		stop()
		return "", nil, nil, err
	}
	if err := runJob(ctx, cs, db, name, 2); err != nil {
		stop()
		return "", nil, nil, err
	}
	return cs, db, stop, nil
}

// runJob is the guide's "Your own data store" job for the given number of
// batches of 100 events per partition: positions committed in the
// batch's transaction.
func runJob(ctx context.Context, connStr string, db *sql.DB, name string, batches int) error {
	store, err := offsets.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	ehConf := eventhubs.NewConf(connStr).SetMaxRatePerPartition(100)
	job, err := offsets.JobFor(name, ehConf)
	if err != nil {
		return err
	}
	ssc, err := streaming.NewContext(50*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		return err
	}
	stream, err := eventhubs.CreateDirectStream(ssc, ehConf)
	if err != nil {
		return err
	}
	n := 0
	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := store.CommitOffsets(ctx, tx, job, rdd.OffsetRanges()); err != nil {
			return err
		}
		// ... the job's results, written with tx ...
		if err := tx.Commit(); err != nil {
			return err
		}
		if n++; n == batches {
			ssc.Stop(true)
		}
		return nil
	})
	return ssc.Run(ctx)
}

// send writes n events to each of the hub's partitions.
func send(ctx context.Context, connStr string, partitions, n int) error {
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	for part := range partitions {
		id := fmt.Sprint(part)
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			return err
		}
		for i := range n {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, `{"device":"d%d","reading":%d}`, part, i)}, nil); err != nil {
				return err
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			return err
		}
	}
	return nil
}
