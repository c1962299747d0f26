package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"               // database/sql driver "sqlite", pure Go
	sqlite3 "modernc.org/sqlite/lib"
)

// sink is the SQL database `ehstream stream` writes to: a table of events
// and, in the same transactions, the stream's positions (package offsets).
type sink struct {
	db      *sql.DB
	dialect offsets.Dialect
	table   string
	spec    string // the --sink value: keep out of messages
	desc    string // the --sink value without a password
	store   *offsets.Store
	wal     *walCheckpointer // SQLite's, once open
}

// openSink opens "sqlite:PATH" or a postgres:// URL and creates the
// positions table and, unless table is "", the events table.
func openSink(ctx context.Context, spec, table string) (*sink, error) {
	s, err := parseSink(spec, table)
	if err != nil {
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, s.createTable(ctx)
}

// parseSink checks --sink and --table without touching the database.
func parseSink(spec, table string) (*sink, error) {
	if table != "" {
		if err := offsets.ValidateTableName(table); err != nil {
			return nil, usageError{fmt.Errorf("--table: %v", err)}
		}
	}
	s := &sink{table: table, spec: spec}
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, usageError{errors.New("--sink sqlite: needs a file, e.g. sqlite:ehstream.db")}
		}
		s.dialect, s.desc = offsets.SQLite, spec
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		if _, err := url.Parse(spec); err != nil {
			return nil, usageError{errors.New("--sink: not a valid postgres:// URL")}
		}
		s.dialect, s.desc = offsets.PostgreSQL, redactSink(spec)
	default:
		return nil, usageError{fmt.Errorf("--sink %q: want sqlite:PATH or a postgres:// URL", redactSink(spec))}
	}
	return s, nil
}

// open connects and creates the positions table.
func (s *sink) open(ctx context.Context) error {
	// WAL lets `ehstream offsets` read while the job writes; the busy
	// timeout makes a second writer wait instead of failing at once. The
	// WAL is checkpointed in the background (walCheckpointer), not in the
	// commits.
	if err := s.connect(ctx, "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)"); err != nil {
		return err
	}
	var err error
	if s.store, err = offsets.Open(ctx, s.db, &offsets.Options{Dialect: s.dialect}); err != nil {
		s.db.Close()
		return err
	}
	if s.dialect == offsets.SQLite {
		s.wal = startWALCheckpointer(s.db)
	}
	return nil
}

// connect opens the sink's database, with sqliteParams on a SQLite file's
// name, and checks that it answers.
func (s *sink) connect(ctx context.Context, sqliteParams string) error {
	var err error
	if s.dialect == offsets.SQLite {
		s.db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(s.spec, "sqlite:")+"?"+sqliteParams)
	} else {
		s.db, err = sql.Open("pgx", s.spec)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.desc, err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return fmt.Errorf("connecting to %s: %v", s.desc, redactErr(err, s.spec))
	}
	return nil
}

// createTable creates the events table, unless the sink has none. The
// stream calls it once the job's positions are known to belong to it, so
// that a refused run leaves no empty table behind.
func (s *sink) createTable(ctx context.Context) error {
	if s.table == "" {
		return nil
	}
	// Replicas starting together create it concurrently, and PostgreSQL's
	// CREATE TABLE IF NOT EXISTS can then fail on its catalogue's unique
	// index; the table exists by the next try.
	var err error
	for range 3 {
		if _, err = s.db.ExecContext(ctx, s.ddl()); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("creating table %s in %s: %w", s.table, s.desc, err)
	}
	return nil
}

func (s *sink) close() error {
	if s.wal != nil {
		s.wal.close()
	}
	return s.db.Close()
}

func (s *sink) ddl() string {
	ts, js, blob := "TEXT", "TEXT", "BLOB"
	if s.dialect == offsets.PostgreSQL {
		ts, js, blob = "TIMESTAMPTZ", "JSONB", "BYTEA"
	}
	return `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	eventhub        TEXT   NOT NULL,
	partition_id    TEXT   NOT NULL,
	sequence_number BIGINT NOT NULL,
	"offset"        TEXT   NOT NULL,
	enqueued_time   ` + ts + ` NOT NULL,
	partition_key   TEXT,
	properties      ` + js + ` NOT NULL,
	body            ` + blob + ` NOT NULL,
	PRIMARY KEY (eventhub, partition_id, sequence_number, enqueued_time))`
}

// redactSink hides a password in a URL-like --sink value.
func redactSink(spec string) string {
	if u, err := url.Parse(spec); err == nil && u.User != nil {
		return u.Redacted()
	}
	return spec
}

// redactErr keeps a driver's error from repeating the password.
func redactErr(err error, spec string) string {
	msg := err.Error()
	if u, perr := url.Parse(spec); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// rowsPerInsert keeps a multi-row INSERT well under both databases'
// parameter limits (columns per row); bytesPerInsert keeps one statement of
// large events from holding much memory.
const (
	rowsPerInsert  = 250
	bytesPerInsert = 4 << 20
)

// writeBatch writes every event of rdd and the batch's positions in one
// transaction. Partitions are read in parallel, from the start, while one
// goroutine begins the transaction and writes. The positions go first: a
// batch that another instance of the job committed already fails on them,
// before its events collide with that instance's. PostgreSQL takes the
// events by COPY (copyChunks), SQLite by multi-row INSERTs (insertChunks).
func (s *sink) writeBatch(ctx context.Context, job offsets.Job, rdd *eventhubs.RDD) error {
	ranges := rdd.OffsetRanges()
	var write chunkWriter = s.insertChunks
	if s.dialect == offsets.PostgreSQL {
		write = s.copyChunks
	}
	return s.readChunks(ctx, job, rdd, func(chunks <-chan []any) (func(bool) error, error) {
		return write(ctx, job, ranges, chunks)
	})
}

// A chunk writer begins a transaction, commits the batch's positions in
// it, and writes every chunk of rows until the channel closes. It returns
// finish, which commits the transaction (commit true) or rolls it back,
// and releases what the writer took; on an error it has done that itself.
type chunkWriter func(ctx context.Context, job offsets.Job, ranges []eventhubs.OffsetRange, chunks <-chan []any) (finish func(commit bool) error, err error)

// insertChunks is the chunk writer of SQLite: multi-row INSERTs of a
// statement prepared once per batch. It begins the transaction once the
// first rows are read, which gives the previous batch's WAL checkpoint
// (walCheckpointer) that long to finish. database/sql holds the
// transaction (*sql.Tx, as CommitOffsets takes it); the INSERTs go to the
// same connection's driver through sql.Conn.Raw, and so run inside it,
// without database/sql converting each of a chunk's values again.
func (s *sink) insertChunks(ctx context.Context, job offsets.Job, ranges []eventhubs.OffsetRange, chunks <-chan []any) (finish func(bool) error, err error) {
	first, more := <-chunks
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.desc, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", s.desc, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			conn.Close()
		}
	}()
	if err := s.store.CommitOffsets(ctx, tx, job, ranges); err != nil {
		return nil, err
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) cannot prepare statements", dc)
		}
		var full driver.Stmt
		defer func() {
			if full != nil {
				full.Close()
			}
		}()
		args := make([]driver.NamedValue, 0, rowsPerInsert*columns)
		for chunk := first; more; chunk, more = <-chunks {
			args = args[:0]
			for i, v := range chunk {
				args = append(args, driver.NamedValue{Ordinal: i + 1, Value: v})
			}
			if err := s.execInsert(ctx, c, &full, args); err != nil {
				return s.insertError(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(commit bool) error {
		defer conn.Close()
		if !commit {
			return tx.Rollback()
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing to %s: %w", s.desc, err)
		}
		if s.wal != nil {
			s.wal.committed()
		}
		return nil
	}, nil
}

// execInsert runs the INSERT of args' rows on a driver connection: a
// full chunk with *full, prepared on first use, any other with a
// statement of its own.
func (s *sink) execInsert(ctx context.Context, c driver.ConnPrepareContext, full *driver.Stmt, args []driver.NamedValue) error {
	rows := len(args) / columns
	st := *full
	if rows != rowsPerInsert || st == nil {
		var err error
		if st, err = c.PrepareContext(ctx, s.insert(rows)); err != nil {
			return err
		}
		if rows == rowsPerInsert {
			*full = st
		} else {
			defer st.Close()
		}
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return fmt.Errorf("the SQLite driver's statement (%T) cannot execute with a context", st)
	}
	_, err := ex.ExecContext(ctx, args)
	return err
}

// chunksBuffered is how many chunks of rows the partitions' readers may
// be ahead of the writer.
const chunksBuffered = 8

// readChunks reads rdd's partitions in parallel into chunks of rows (a
// chunk holds one partition's rows, columns values each, in the order of
// insert), and runs write on the channel of chunks while they are read.
// When write fails the reads are cancelled; when a read fails, the
// transaction write began is rolled back; else it is committed.
func (s *sink) readChunks(ctx context.Context, job offsets.Job, rdd *eventhubs.RDD, write func(<-chan []any) (func(commit bool) error, error)) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []any, chunksBuffered)
	var readErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(chunks)
		readErr = rdd.ForeachPartition(rctx, func(ctx context.Context, p *eventhubs.Partition) error {
			send := func(args []any) error {
				select {
				case chunks <- args:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			// The values every row of the partition shares, converted to
			// interfaces once.
			var partition, hub any = p.Range().PartitionID, job.EventHub
			args := make([]any, 0, rowsPerInsert*columns)
			size := 0
			var buf []byte
			for ev, err := range p.Events() {
				if err != nil {
					return err
				}
				var props string
				props, buf = propertiesJSON(buf, ev.Properties)
				args = append(args, partition, ev.SequenceNumber, ev.Offset, s.timeArg(ev.EnqueuedTime),
					nullable(ev.PartitionKey), props, ev.Body, hub)
				size += len(ev.Body) + len(props)
				if len(args) == cap(args) || size >= bytesPerInsert {
					if err := send(args); err != nil {
						return err
					}
					args, size = make([]any, 0, rowsPerInsert*columns), 0
				}
			}
			if len(args) == 0 {
				return nil
			}
			return send(args)
		})
	}()
	finish, err := write(chunks)
	if err != nil {
		cancel()
		for range chunks { // so that the readers finish
		}
		<-done
		return err
	}
	<-done
	if readErr != nil {
		finish(false)
		return readErr
	}
	return finish(true)
}

// insertError says what a failed INSERT of events means. The job's own
// positions keep it from writing an event twice, so an event already in
// the table was written by something else.
func (s *sink) insertError(err error) error {
	if duplicateKey(err) {
		return fmt.Errorf("writing events to %s table %s: an event of this batch is in the table already, written by another job "+
			"(another --job name, or before the hub was deleted and created again into a table made by an older ehstream, whose key lacks enqueued_time): "+
			"give each job a table of its own (--table NEW): %w", s.desc, s.table, err)
	}
	return fmt.Errorf("writing events to %s table %s: %w", s.desc, s.table, err)
}

// duplicateKey reports a primary-key or unique violation, by the codes
// both drivers give.
func duplicateKey(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// columns is the number of values in a row of the events table.
const columns = 8

// insert is the INSERT of n rows.
func (s *sink) insert(n int) string {
	row := "(" + strings.Repeat("?,", columns-1) + "?)"
	return s.dialect.Rebind(`INSERT INTO ` + s.table + ` (partition_id, sequence_number, "offset", enqueued_time, partition_key, properties, body, eventhub) VALUES ` +
		strings.Repeat(row+",", n-1) + row)
}

func (s *sink) timeArg(t time.Time) any {
	if s.dialect == offsets.PostgreSQL {
		return t
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonSafe replaces each property value JSON cannot hold (an AMQP map with
// non-string keys, say) by the way Go prints it, rather than stop a read.
func jsonSafe(props map[string]any) map[string]any {
	safe := make(map[string]any, len(props))
	for k, v := range props {
		if _, err := json.Marshal(v); err != nil {
			v = fmt.Sprint(v)
		}
		safe[k] = v
	}
	return safe
}
