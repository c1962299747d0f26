package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

// runStream is the main job: a direct stream of a hub written to a SQL
// table, each batch's events and positions in one transaction, so that
// the table holds every event exactly once whatever crashes.
func runStream(ctx context.Context, args []string, std stdio) (err error) {
	fs := newFlagSet("stream", std.err)
	hf := addHubFlags(fs, true)
	start := fs.String("starting-position", "earliest", "where partitions with no stored position start: earliest, latest, seq:N, offset:S or time:RFC3339")
	rate := fs.Int64("max-rate-per-partition", eventhubs.DefaultMaxRatePerPartition, "most events a batch reads from one partition")
	interval := fs.Duration("batch-interval", time.Second, "time between batches")
	failOnDataLoss := fs.Bool("fail-on-data-loss", true, "stop when events the job has not read were removed by retention (false: skip them with a warning)")
	receiverTimeout := fs.Duration("receiver-timeout", eventhubs.DefaultReceiverTimeout, "how long one receive call may wait")
	sinkSpec := fs.String("sink", "sqlite:ehstream.db", "where to write: sqlite:PATH or a postgres:// URL"+envNote("sink"))
	table := fs.String("table", "events", "table for the events (created if missing)")
	jobName := fs.String("job", "archive", "the job's name; positions are stored per job, hub and consumer group")
	untilIdle := fs.Bool("until-idle", false, "stop after a batch that read nothing")
	skipEmpty := fs.Bool("skip-empty-batches", true, "write no transaction for a batch with nothing to read (positions are stored all the same)")
	dataDir := fs.String("data", "./ehstream-data", "with no connection string: where the local Event Hubs keeps its data")
	backpressure := fs.Bool("backpressure", false, "adapt the rate to how fast batches are written (a PID estimator, as Spark's backpressure), within --max-rate-per-partition")
	share := addShareFlags(fs)
	httpAddr := addHTTPFlag(fs)
	logFormat := addLogFormatFlag(fs, "text or json (json: the logs and the job's lines, a record per batch that read events, as JSON on stderr; stdout stays empty)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	flagsFromEnv(fs)
	if err := logFormat.check(); err != nil {
		return err
	}
	// Info: the rare lines that say what the job decided (a new partition
	// read from its start, a replayed batch, a stop on a signal); the
	// progress lines go to stdout, or with JSON logs to the log (logformat.go).
	log := logFormat.logger(std.err, slog.LevelInfo)
	defer func() { err = logFormat.failed(log, "stream", err) }()
	var logBatches *slog.Logger
	if logFormat.json() {
		std.out, logBatches = &lineLogger{log: log}, log
	}
	if err := share.check(); err != nil {
		return err
	}
	position, err := eventhubs.ParseEventPosition(*start)
	if err != nil {
		return usageError{fmt.Errorf("--starting-position: %v", err)}
	}
	if *interval <= 0 {
		return usageError{fmt.Errorf("--batch-interval %s: want a positive duration", *interval)}
	}

	if *rate <= 0 {
		return usageError{fmt.Errorf("--max-rate-per-partition %d: want a positive number", *rate)}
	}
	if *receiverTimeout <= 0 {
		return usageError{fmt.Errorf("--receiver-timeout %s: want a positive duration", *receiverTimeout)}
	}
	sk, err := sqlsink.Parse(*sinkSpec, *table)
	if err != nil {
		return sinkFlagError(err)
	}
	status, err := listenStatus(*httpAddr)
	if err != nil {
		return err
	}
	defer status.close()

	confAndJob := func() (*eventhubs.Conf, offsets.Job, error) {
		conf, err := hf.conf()
		if err != nil {
			return nil, offsets.Job{}, err
		}
		conf.SetStartingPosition(position).SetMaxRatePerPartition(*rate).SetFailOnDataLoss(*failOnDataLoss).
			SetReceiverTimeout(*receiverTimeout).SetBackpressure(*backpressure).SetLogger(log)
		if err := conf.Validate(); err != nil {
			return nil, offsets.Job{}, usageError{err}
		}
		job, err := offsets.JobFor(*jobName, conf)
		if err != nil {
			return nil, offsets.Job{}, usageError{err}
		}
		job.Output = *table
		return conf, job, nil
	}
	// Every check before any side effect: a bad flag neither creates the
	// database nor sends samples to a local hub.
	var conf *eventhubs.Conf
	var job offsets.Job
	if hf.given() {
		if conf, job, err = confAndJob(); err != nil {
			return err
		}
	} else if hf.hub != "" && !strings.EqualFold(hf.hub, localHubName) {
		return usageError{fmt.Errorf("--hub %s: with no connection string the job reads the local Event Hubs, whose hub is %q; pass --connection-string (or set %s) to read hub %s", hf.hub, localHubName, envConnectionString, hf.hub)}
	}
	if err := sk.Connect(ctx); err != nil {
		return err
	}
	defer sk.Close()
	if conf == nil {
		local, err := startLocalHub(ctx, *dataDir, std.out)
		if err != nil {
			return err
		}
		defer local.close()
		hf.connStr = local.connStr
		if conf, job, err = confAndJob(); err != nil {
			return err
		}
	}
	shared, resumed, err := resumeJob(ctx, share, sk, conf, job)
	if err != nil {
		return explainJobError(err, job)
	}
	if shared != nil {
		defer shared.Close()
	}
	job = resumed.Job
	fmt.Fprintf(std.out, "streaming %s (consumer group %s) into %s table %s as job %q; %d partitions resume from stored positions\n",
		conf.EventHubName(), conf.ConsumerGroup(), sk.Desc, *table, *jobName, resumed.Stored)

	ssc, err := streaming.NewContext(*interval, &streaming.ContextOptions{Logger: log, NoBatchLog: true, SkipEmptyBatches: *skipEmpty, Retry: sqlsink.RetryBatch})
	if err != nil {
		return usageError{err}
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return err
	}
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		return sk.WriteBatch(ctx, job, rdd)
	})
	// A batch whose positions moved under it (a killed run's late commit)
	// rolls back and is planned again from the stored positions.
	ds.SetStoredPositions(storedPositions(sk.Store, job))
	status.start(ssc, share.monitorOptions(conf, sk, *jobName), std.out)
	if shared != nil {
		if err := shared.share(ds, sk.Store, job, status.ownershipChanged); err != nil {
			return err
		}
		fmt.Fprintf(std.out, "sharing the partitions with other replicas as owner %q\n", ds.OwnerID())
	}
	var total, batches int64
	report := newBatchReporter(std.out, logBatches, time.Now()) // streamprogress.go
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		total += b.Events
		batches++
		report.OnBatchCompleted(b)
		if *untilIdle && emptyBatch(b) {
			ssc.Stop(true)
		}
	}))
	// ctx ends (a caller's): the running batch finishes and commits.
	defer context.AfterFunc(ctx, func() { ssc.Stop(true) })()
	// SIGINT or SIGTERM: the running batch finishes and commits; a second
	// one stops at once (that batch commits nothing and runs again).
	err = ssc.RunUntilSignal(context.WithoutCancel(ctx))
	report.flush(time.Now())
	fmt.Fprintf(std.out, "wrote %d events in %d batches to %s table %s\n", total, batches, sk.Desc, *table)
	return explainJobError(err, job)
}

// resumeJob readies the job to run: with --ownership it opens the store
// and refuses a consumer group another job holds, before anything is
// stored; then it resumes the job's positions (where partitions without
// one start is resolved once, and stored before the first batch) and
// creates the events table. The caller closes the shared store.
func resumeJob(ctx context.Context, share *shareFlags, sk *sqlsink.Sink, conf *eventhubs.Conf, job offsets.Job) (*sharedStore, offsets.Resumed, error) {
	var shared *sharedStore
	if *share.store != "" {
		var err error
		if shared, err = share.open(ctx, conf, job); err != nil {
			return nil, offsets.Resumed{}, err
		}
	}
	resumed, err := sk.Store.Resume(ctx, job, conf)
	if err == nil {
		err = sk.CreateTable(ctx)
	}
	if err != nil && shared != nil {
		shared.Close()
		shared = nil
	}
	return shared, resumed, err
}

// explainJobError says, in the command's terms, what to do about errors
// that mean two runs disagree about the job.
func explainJobError(err error, job offsets.Job) error {
	var conflict *offsets.ConflictError
	var mismatch *offsets.MismatchError
	var otherJob *balance.OtherJobError
	switch {
	case errors.As(err, &otherJob):
		return fmt.Errorf("%w\n(give job %q its own consumer group: --consumer-group NAME, created in the hub first; or run it with --job %s as a replica of that job)", err, job.Name, otherJob.Other)
	case eventhubs.HasCode(err, eventhubs.CodeDataLoss):
		return fmt.Errorf("%w\n(--fail-on-data-loss=false goes on with what is left, counting what was skipped)", err)
	case errors.As(err, &conflict) && conflict.Writer != nil:
		return fmt.Errorf("%w\n(give each job a table of its own: --table NEW; or run this one as --job %s with --consumer-group %s)", err, conflict.Writer.Name, conflict.Writer.ConsumerGroup)
	case errors.As(err, &conflict):
		return fmt.Errorf("%w\n(--job names the job, --table is its output; to start a new archive use a new --job and --table)", err)
	case errors.As(err, &mismatch) && mismatch.Stored > mismatch.Expected:
		return fmt.Errorf("%w\n(is another instance of job %q running on hub %s, consumer group %s? It committed this batch first; this one stopped, and the positions are as the other left them)",
			err, job.Name, job.EventHub, job.ConsumerGroup)
	case eventhubs.HasCode(err, eventhubs.CodeOwnershipLost):
		return fmt.Errorf("%w\n(another exclusive reader of consumer group %s took a partition of hub %s: is another instance of job %q running? Each partition is read by one instance; this one stopped, and the positions are as it committed them)",
			err, job.ConsumerGroup, job.EventHub, job.Name)
	}
	return err
}

// progress prints the line of a batch that read events.
func progress(w io.Writer, b streaming.BatchInfo) {
	line := fmt.Sprintf("batch %d: %d events, lag %d, at %s, took %s", b.Number, b.Events, b.TotalLag(),
		b.Time.Format("15:04:05.000"), b.ProcessingTime.Round(time.Millisecond))
	if b.SchedulingDelay >= 10*time.Millisecond {
		line += fmt.Sprintf(", started %s late", b.SchedulingDelay.Round(time.Millisecond))
	}
	if b.Rate > 0 {
		line += fmt.Sprintf(", rate limit %d/s", b.Rate)
	}
	if b.Skipped > 0 {
		line += fmt.Sprintf(", %d LOST to retention and skipped", b.Skipped)
	}
	if b.Replay {
		line += " (replayed after a restart)"
	}
	fmt.Fprintln(w, line)
}
