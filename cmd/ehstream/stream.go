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
	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/linelog"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

// streamConfig is the main job `ehstream stream` runs: a direct stream
// of a hub written to a SQL table, each batch's events and positions in
// one transaction, so that the table holds every event exactly once
// whatever crashes.
type streamConfig struct {
	log       *commandLog
	hub       *hubFlags
	settings  []confFlag      // the Conf's settings the flags give
	conf      *eventhubs.Conf // with a connection string; nil: the local Event Hubs'
	job       offsets.Job     // conf's
	interval  time.Duration
	sink      *sqlsink.Sink
	files     *capture.OutputOptions // with --sink file: or blob: (sinkSpec); nil: a SQL sink
	sinkSpec  string
	table     string
	jobName   string
	untilIdle bool
	skipEmpty bool
	dataDir   string
	share     *shareFlags
	httpAddr  string
	lagGroup  string
	// startTimeout bounds the start's tries of a database that is down.
	startTimeout time.Duration
	fileFlags    []string // the file output's flags given, refused with a SQL --sink
}

func parseStreamFlags(args []string, stderr io.Writer) (*streamConfig, error) {
	c := &streamConfig{}
	fs := newFlagSet("stream", stderr)
	c.hub = addHubFlags(fs, true)
	start := fs.String("starting-position", "earliest", "where partitions with no stored position start: earliest, latest, seq:N, offset:S, time:RFC3339 or -DURATION (enqueued since that long before the first start, e.g. -1h)")
	rate := fs.Int64("max-rate-per-partition", eventhubs.DefaultMaxRatePerPartition, "most events a batch reads from one partition")
	fs.DurationVar(&c.interval, "batch-interval", time.Second, "time between batches")
	failOnDataLoss := fs.Bool("fail-on-data-loss", true, "stop when events the job has not read were removed by retention (false: skip them with a warning)")
	receiverTimeout := fs.Duration("receiver-timeout", eventhubs.DefaultReceiverTimeout, "how long one receive call may wait")
	sinkSpec := fs.String("sink", "sqlite:ehstream.db", "where to write: sqlite:PATH or a postgres:// URL (a table), or files: file:DIR, blob:STORAGE-CONNECTION-STRING/CONTAINER, "+
		"or blob:https://ACCOUNT.blob.core.windows.net/CONTAINER signed in with --credential"+envNote("sink"))
	files := &capture.OutputOptions{Sink: capture.SinkOptions{RollSize: capture.DefaultRollSize}}
	fs.StringVar(&files.Format, "format", "parquet", "with a file --sink, the files' format: parquet or avro (Event Hubs Capture's schema)")
	fs.StringVar(&files.Columns, "columns", "", "with --format parquet, body fields as columns: NAME:TYPE=PATH,... (TYPE string, int64, double, bool or timestamp; PATH dotted keys of a JSON body)")
	fs.Var((*byteSize)(&files.Sink.RollSize), "roll-size", "with a file --sink, finish a partition's file once it holds this many `bytes` (such as 64MiB)")
	fs.DurationVar(&files.Sink.RollInterval, "roll-interval", capture.DefaultRollInterval, "with a file --sink, finish a partition's file at the end of the first batch this long after it began")
	fs.StringVar(&c.table, "table", "events", "table for the events (created if missing)")
	fs.StringVar(&c.jobName, "job", "archive", "the job's name; positions are stored per job, hub and consumer group")
	fs.BoolVar(&c.untilIdle, "until-idle", false, "stop after a batch that read nothing")
	fs.BoolVar(&c.skipEmpty, "skip-empty-batches", true, "write no transaction for a batch with nothing to read (positions are stored all the same)")
	fs.StringVar(&c.dataDir, "data", "./ehstream-data", "with no connection string: where the local Event Hubs keeps its data")
	fs.DurationVar(&c.startTimeout, "start-timeout", sqlsink.DefaultStartTimeout, "how long the start tries a sink or ownership store that is down or out of reach, as a run retries a batch")
	backpressure := fs.Bool("backpressure", false, "adapt the rate to how fast batches are written (a PID estimator, as Spark's backpressure), within --max-rate-per-partition")
	readAhead := fs.Int64("read-ahead", eventhubs.DefaultReadAhead, "bytes per partition each receiver reads ahead between batches, which then plan from what arrived without asking the hub per partition (0: off, each batch asks every partition)")
	c.share = addShareFlags(fs)
	httpAddr := addHTTPFlag(fs)
	lagGroup := addLagGroupFlag(fs)
	logFormat := addLogFormatFlag(fs, "text or json (json: the logs and the job's lines, a record per batch that read events, as JSON on stderr; stdout stays empty)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	flagsFromEnv(fs)
	c.share.noteGiven(fs)
	c.fileFlags = givenFlags(fs, "format", "columns", "roll-size", "roll-interval")
	// Info: the rare lines that say what the job decided (a new partition
	// read from its start, a replayed batch, a stop on a signal); the
	// progress lines go to stdout, or with JSON logs to the log (linelog).
	var err error
	if c.log, err = logFormat.open("stream", stderr, slog.LevelInfo); err != nil {
		return nil, err
	}
	c.httpAddr, c.lagGroup = *httpAddr, *lagGroup
	err = c.check(*start, *sinkSpec, files,
		confFlag{"--max-rate-per-partition", *rate, func(conf *eventhubs.Conf) { conf.SetMaxRatePerPartition(*rate) }},
		confFlag{"--fail-on-data-loss", *failOnDataLoss, func(conf *eventhubs.Conf) { conf.SetFailOnDataLoss(*failOnDataLoss) }},
		confFlag{"--receiver-timeout", *receiverTimeout, func(conf *eventhubs.Conf) { conf.SetReceiverTimeout(*receiverTimeout) }},
		confFlag{"--backpressure", *backpressure, func(conf *eventhubs.Conf) { conf.SetBackpressure(*backpressure) }},
		confFlag{"--read-ahead", *readAhead, func(conf *eventhubs.Conf) { conf.SetReadAhead(*readAhead) }})
	if err != nil {
		return nil, c.log.failed(err)
	}
	return c, nil
}

// check takes the values the flags give, every one checked before the job
// does anything: a bad flag neither creates the database nor sends
// samples to a local hub.
func (c *streamConfig) check(start, sinkSpec string, files *capture.OutputOptions, settings ...confFlag) error {
	if err := c.share.check(c.hub.namespace != ""); err != nil {
		return err
	}
	if c.startTimeout <= 0 {
		return usageError{fmt.Errorf("--start-timeout %s: want a positive duration", c.startTimeout)}
	}
	position, err := eventhubs.ParseEventPosition(start)
	if err != nil {
		return usageError{fmt.Errorf("--starting-position: %v", err)}
	}
	setStart := confFlag{"--starting-position", start, func(conf *eventhubs.Conf) { conf.SetStartingPosition(position) }}
	c.settings = append([]confFlag{setStart}, settings...)
	switch {
	case !capture.IsOutputSpec(sinkSpec) && len(c.fileFlags) > 0:
		return usageError{fmt.Errorf("%s with a SQL --sink: they set a file output; give --sink file:DIR or blob:..., or leave them out", strings.Join(c.fileFlags, ", "))}
	case !capture.IsOutputSpec(sinkSpec):
		c.sink, err = sqlsink.Parse(sinkSpec, c.table)
	case *c.share.store != "": // capture.Sink.Attach would refuse it
		return usageError{fmt.Errorf("--ownership with --sink %s: replicas cannot share a file output (nothing fences a paused replica's late rename or commit); run one instance per hub and destination", capture.RedactSpec(sinkSpec))}
	default:
		c.files, c.sinkSpec, err = files, sinkSpec, capture.CheckOutput(sinkSpec, files)
	}
	if err != nil {
		return sinkFlagError(err)
	}
	if err := c.hub.checkSignIn(); err != nil {
		return err
	}
	if c.hub.given() {
		c.conf, c.job, err = c.confAndJob(c.hub.connectionString())
		return err
	}
	if err := c.hub.localOnly(); err != nil {
		return err
	}
	if c.hub.hub != "" && !strings.EqualFold(c.hub.hub, localHubName) {
		return usageError{fmt.Errorf("--hub %s: with no connection string the job reads the local Event Hubs, whose hub is %q; pass --connection-string (or set %s) to read hub %s", c.hub.hub, localHubName, envConnectionString, c.hub.hub)}
	}
	// The local Event Hubs' connection string is known once it listens:
	// the settings are checked before, on one of its shape.
	_, _, err = c.confAndJob(localHubShape)
	return err
}

// confAndJob is the job's Conf, for the hub of connection string cs, and
// the job's identity in the positions table.
func (c *streamConfig) confAndJob(cs string) (*eventhubs.Conf, offsets.Job, error) {
	conf, err := c.hub.confFor(cs)
	if err != nil {
		return nil, offsets.Job{}, err
	}
	if err := setConfFlags(conf, c.settings...); err != nil {
		return nil, offsets.Job{}, err
	}
	conf.SetLogger(c.log.Logger)
	job, err := offsets.JobFor(c.jobName, conf)
	if err != nil {
		return nil, offsets.Job{}, usageError{err}
	}
	job.Output = c.table
	return conf, job, nil
}

func (c *streamConfig) run(ctx context.Context, std stdio) (err error) {
	defer func() { err = c.log.failed(err) }()
	out := std.out
	if c.log.json {
		out = linelog.New(c.log.Logger) // the job's lines become records
	}
	// The streaming package checks the batch interval.
	ssc, err := streaming.NewContext(c.interval, &streaming.ContextOptions{Logger: c.log.Logger, NoBatchLog: true, SkipEmptyBatches: c.skipEmpty, Retry: sqlsink.RetryBatch})
	if err != nil {
		return usageError{fmt.Errorf("--batch-interval %s: %v", c.interval, err)}
	}
	status, err := listenStatus(c.httpAddr)
	if err != nil {
		return err
	}
	defer status.close()
	retry := c.startRetry(time.Now().Add(c.startTimeout))
	if c.files == nil {
		if err := retry(ctx, "connecting to the sink", c.sink.Connect); err != nil {
			return err
		}
		defer c.sink.Close()
	}
	conf, job := c.conf, c.job
	if conf == nil {
		local, err := startLocalHub(ctx, c.dataDir, out)
		if err != nil {
			return err
		}
		defer local.Close()
		if conf, job, err = c.confAndJob(local.ConnectionString()); err != nil {
			return err
		}
	}
	if c.files != nil {
		return c.runFiles(ctx, ssc, status, conf, job, out)
	}
	shared, resumed, err := resumeJob(ctx, c.share, c.sink, conf, job, retry)
	if err != nil {
		return explainJobError(err, job)
	}
	if shared != nil {
		defer shared.Close()
	}
	job = resumed.Job
	fmt.Fprintf(out, "streaming %s (consumer group %s) into %s table %s as job %q; %d partitions resume from stored positions\n",
		conf.EventHubName(), conf.ConsumerGroup(), c.sink.Desc, c.table, c.jobName, resumed.Stored)
	ds, err := c.directStream(ssc, conf, job)
	if err != nil {
		return err
	}
	status.start(ssc, c.share.monitorOptions(ds, conf, c.sink.Desc+" table "+c.table, job), out)
	if shared != nil {
		if err := shared.share(ds, c.sink.Store, job, status.ownershipChanged); err != nil {
			return err
		}
		fmt.Fprintf(out, "sharing the partitions with other replicas as owner %q\n", ds.OwnerID())
	}
	if err := status.watch(ds, c.lagGroup); err != nil {
		return err
	}
	return c.runBatches(ctx, ssc, job, out, c.sink.Desc+" table "+c.table)
}

// runFiles runs the job into files (package capture): the visible files'
// names are its positions, with no database.
func (c *streamConfig) runFiles(ctx context.Context, ssc *streaming.Context, status *statusServer, conf *eventhubs.Conf, job offsets.Job, out io.Writer) (err error) {
	c.files.Credential, c.files.Sink.Logger = conf.Credential(), c.log.Logger // the logger: a line per finished file
	sk, err := capture.OpenOutput(ctx, c.sinkSpec, c.files)
	if err != nil {
		return err
	}
	ds, resumed, err := sk.CreateDirectStream(ctx, ssc, conf)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sk.Close(context.WithoutCancel(ctx))) }() // finishes the open files
	fmt.Fprintf(out, "streaming %s (consumer group %s) into %s; %d partitions resume from their files\n", conf.EventHubName(), conf.ConsumerGroup(), sk, len(resumed.Positions)-resumed.Recorded)
	status.start(ssc, c.share.monitorOptions(ds, conf, sk.String(), job), out)
	if err := status.watch(ds, c.lagGroup); err != nil {
		return err
	}
	return c.runBatches(ctx, ssc, job, out, sk.String())
}

// directStream is the job's stream of conf's hub, each batch written to
// the sink with its positions in one transaction.
func (c *streamConfig) directStream(ssc *streaming.Context, conf *eventhubs.Conf, job offsets.Job) (*eventhubs.DirectStream, error) {
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		return nil, err
	}
	c.sink.Attach(ds, job)
	return ds, nil
}

// idleLineEvery is the least time between two lines of the stream while
// its batches read nothing; tests shorten it.
var idleLineEvery = monitor.DefaultIdleEvery

// runBatches runs the stream until a signal, the end of ctx or, with
// --until-idle, a batch that read nothing, reporting its batches on out;
// then says what it wrote.
func (c *streamConfig) runBatches(ctx context.Context, ssc *streaming.Context, job offsets.Job, out io.Writer, into string) error {
	var total, batches int64
	opts := &monitor.ProgressOptions{IdleEvery: idleLineEvery}
	if c.log.json {
		opts.Logger = c.log.Logger // the batches are records
	}
	report := monitor.NewProgress(out, opts)
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		total += b.Events
		batches++
		report.OnBatchCompleted(b)
		if c.untilIdle && streaming.EmptyBatch(b) {
			ssc.Stop(true)
		}
	}))
	// ctx ends (a caller's): the running batch finishes and commits.
	defer context.AfterFunc(ctx, func() { ssc.Stop(true) })()
	// SIGINT or SIGTERM: the running batch finishes and commits; a second
	// one stops at once (that batch commits nothing and runs again).
	err := ssc.RunUntilSignal(context.WithoutCancel(ctx))
	report.Flush(time.Now())
	if err != nil {
		return explainJobError(err, job) // the error alone: a summary before it reads as the answer
	}
	fmt.Fprintf(out, "wrote %d events in %d batches to %s\n", total, batches, into)
	return nil
}

// startRetry is a start's step that reaches a database, tried until it
// answers as a run retries a batch (sqlsink.RetryStart), within
// --start-timeout of the start, by startBy.
type startRetry func(ctx context.Context, what string, step func(ctx context.Context) error) error

func (c *streamConfig) startRetry(startBy time.Time) startRetry {
	return func(ctx context.Context, what string, step func(ctx context.Context) error) error {
		err := sqlsink.RetryStart(ctx, what, step, &sqlsink.StartOptions{Timeout: max(time.Until(startBy), time.Millisecond), Logger: c.log.Logger})
		if errors.As(err, new(*sqlsink.StartTimeoutError)) {
			return fmt.Errorf("%w\n(--start-timeout %s: a longer one waits longer for the database)", err, c.startTimeout)
		}
		return err
	}
}

// resumeJob readies the job to run: with --ownership it opens the store
// and refuses a consumer group another job holds, and without it refuses
// one that live replicas share, before anything is stored; then the sink
// resumes the job's positions (sqlsink.Sink.Resume). The caller closes
// the shared store.
func resumeJob(ctx context.Context, share *shareFlags, sk *sqlsink.Sink, conf *eventhubs.Conf, job offsets.Job, retry startRetry) (*sharedStore, offsets.Resumed, error) {
	var shared *sharedStore
	if *share.store != "" {
		err := retry(ctx, "opening the ownership store", func(ctx context.Context) (err error) {
			shared, err = share.open(ctx, conf, job)
			return err
		})
		if err != nil {
			return nil, offsets.Resumed{}, err
		}
	} else if err := share.checkNoReplicas(ctx, sk, conf); err != nil {
		return nil, offsets.Resumed{}, err
	}
	resumed, err := sk.Resume(ctx, job, conf)
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
	var table *sqlsink.TableError
	switch {
	case errors.As(err, &table):
		return fmt.Errorf("%w\n(give the job a table of its own, --table NEW, which it creates; or add the missing columns to table %s, if its rows are events as ehstream writes them)", err, table.Table)
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
