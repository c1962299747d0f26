package sqlsink

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/dbspec"
	"github.com/ehstream/ehstream/offsets"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"               // database/sql driver "sqlite", pure Go
	sqlite3 "modernc.org/sqlite/lib"
)

// Sink is the SQL database `ehstream stream` writes to: a table of events
// and, in the same transactions, the stream's positions (package offsets).
type Sink struct {
	DB      *sql.DB
	Dialect offsets.Dialect
	Table   string
	spec    string // the --sink value: keep out of messages
	Desc    string // the --sink value without a password
	Store   *offsets.Store
	wal     *walCheckpointer // SQLite's, once open
	// idleTimeoutSet says that the PostgreSQL URL sets
	// idle_in_transaction_session_timeout, which boundIdle then keeps.
	idleTimeoutSet bool
}

// Open opens "sqlite:PATH" or a postgres:// URL and creates the
// positions table and, unless table is "", the events table.
func Open(ctx context.Context, spec, table string) (*Sink, error) {
	s, err := Parse(spec, table)
	if err != nil {
		return nil, err
	}
	if err := s.Connect(ctx); err != nil {
		return nil, err
	}
	return s, s.CreateTable(ctx)
}

// SpecError is a sink spec or table name that cannot be used; Param says
// which ("sink" or "table"), so a command can name its flag.
type SpecError struct {
	Param   string
	Message string
}

func (e *SpecError) Error() string { return "sqlsink: " + e.Param + ": " + e.Message }

// Parse checks a sink spec ("sqlite:PATH" or a postgres:// URL) and the
// events table's name without touching the database.
func Parse(spec, table string) (*Sink, error) {
	if table != "" {
		if err := offsets.ValidateTableName(table); err != nil {
			return nil, &SpecError{Param: "table", Message: err.Error()}
		}
	}
	s := &Sink{Table: table, spec: spec}
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, &SpecError{Param: "sink", Message: "sqlite: needs a file, e.g. sqlite:ehstream.db"}
		}
		s.Dialect, s.Desc = offsets.SQLite, spec
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		if _, err := url.Parse(spec); err != nil {
			return nil, &SpecError{Param: "sink", Message: "not a valid postgres:// URL"}
		}
		s.Dialect, s.Desc = offsets.PostgreSQL, Redact(spec)
	default:
		return nil, &SpecError{Param: "sink", Message: fmt.Sprintf("%q: want sqlite:PATH or a postgres:// URL", Redact(spec))}
	}
	return s, nil
}

// Connect connects and creates the positions table.
func (s *Sink) Connect(ctx context.Context) error {
	// WAL lets `ehstream offsets` read while the job writes; the busy
	// timeout makes a second writer wait instead of failing at once. The
	// WAL is checkpointed in the background (walCheckpointer), not in the
	// commits.
	if err := s.connect(ctx, "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)"); err != nil {
		return err
	}
	var err error
	if s.Store, err = offsets.Open(ctx, s.DB, &offsets.Options{Dialect: s.Dialect}); err != nil {
		s.DB.Close()
		return err
	}
	if s.Dialect == offsets.SQLite {
		s.wal = startWALCheckpointer(s.DB)
	}
	return nil
}

// connect opens the sink's database, with sqliteParams on a SQLite file's
// name, and checks that it answers.
func (s *Sink) connect(ctx context.Context, sqliteParams string) error {
	var err error
	if s.Dialect == offsets.SQLite {
		s.DB, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(s.spec, "sqlite:")+"?"+sqliteParams)
	} else {
		s.DB, err = sql.Open("pgx", s.spec)
		s.idleTimeoutSet = setsIdleTimeout(s.spec)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.Desc, err)
	}
	if err := s.DB.PingContext(ctx); err != nil {
		s.DB.Close()
		// %w: whether the database is out of reach or refuses (a bad
		// password) is told by the cause's type (Transient).
		return fmt.Errorf("connecting to %s: %w", s.Desc, dbspec.ScrubErr(err, dbspec.Secrets(s.spec)))
	}
	return nil
}

func (s *Sink) Close() error {
	if s.wal != nil {
		s.wal.close()
	}
	return s.DB.Close()
}

// Redact is a --sink value as it may be shown: without the password of a
// URL, in its user part or a password parameter.
func Redact(spec string) string { return dbspec.Redact(spec) }

// RedactErr keeps a driver's error from repeating the spec's passwords.
func RedactErr(err error, spec string) string {
	return dbspec.Scrub(err.Error(), dbspec.Secrets(spec))
}

// rowsPerInsert keeps a multi-row INSERT well under both databases'
// parameter limits (columns per row); bytesPerInsert keeps one statement of
// large events from holding much memory.
const (
	rowsPerInsert  = 250
	bytesPerInsert = 4 << 20
)

// WriteBatch writes every event of rdd and the batch's positions in one
// transaction. Partitions are read in parallel, from the start, while one
// goroutine begins the transaction and writes. A batch that another
// instance of the job committed already fails on the positions before its
// events collide with that instance's, and the positions stay locked as
// briefly as the database allows (inBatchTx). PostgreSQL takes the events
// by COPY (copyChunks), SQLite by multi-row INSERTs (insertChunks).
func (s *Sink) WriteBatch(ctx context.Context, job offsets.Job, rdd *eventhubs.RDD) error {
	ranges := rdd.OffsetRanges()
	var write chunkWriter = s.insertChunks
	if s.Dialect == offsets.PostgreSQL {
		write = s.copyChunks
	}
	return s.readChunks(ctx, job, rdd, func(chunks <-chan []any) (func(bool) error, error) {
		return write(ctx, job, ranges, chunks)
	})
}

// A chunk writer begins a transaction, writes every chunk of rows until
// the channel closes, and commits the batch's positions in it (inBatchTx).
// It returns finish, which commits the transaction (commit true) or rolls
// it back, and releases what the writer took; on an error it has done that
// itself.
type chunkWriter func(ctx context.Context, job offsets.Job, ranges []eventhubs.OffsetRange, chunks <-chan []any) (finish func(commit bool) error, err error)

// insertChunks is the chunk writer of SQLite: multi-row INSERTs of a
// statement prepared once per batch. It begins the transaction once the
// first rows are read, which gives the previous batch's WAL checkpoint
// (walCheckpointer) that long to finish. database/sql holds the
// transaction (*sql.Tx, as CommitOffsets takes it); the INSERTs go to the
// same connection's driver through sql.Conn.Raw, and so run inside it,
// without database/sql converting each of a chunk's values again.
func (s *Sink) insertChunks(ctx context.Context, job offsets.Job, ranges []eventhubs.OffsetRange, chunks <-chan []any) (finish func(bool) error, err error) {
	first, more := <-chunks
	return s.inBatchTx(ctx, job, ranges, func(dc any) error {
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
}

// inBatchTx begins the batch's transaction on a connection of its own,
// has write put the rows in through the driver's own connection, inside
// the same transaction, and commits the batch's positions in it. finish
// commits or rolls back and gives the connection back.
//
// The positions' locks are held as briefly as each database allows, so
// that a writer that stops inside its transaction (a paused replica, a
// frozen machine) stops no other writer of the job for long. PostgreSQL
// locks rows: the positions are checked first, before the transaction and
// without a lock (a batch another instance committed then fails before its
// rows collide with an older events table's key), and committed last, in
// finish, so that the transaction holds nothing of the positions' table
// until the commit, not even the share lock of a read, which an ALTER
// TABLE would wait for, and every later statement on the table behind it.
// The server ends a transaction left idle for long (boundIdle), which
// frees the locks of a writer stopped within its commit. SQLite locks the
// whole database at a transaction's first write, and it cannot take that
// lock in a transaction that has read a snapshot another writer has since
// moved past (SQLITE_BUSY_SNAPSHOT, which its busy timeout does not wait
// out): there the positions are committed first, which also takes the
// lock.
func (s *Sink) inBatchTx(ctx context.Context, job offsets.Job, ranges []eventhubs.OffsetRange, write func(driverConn any) error) (finish func(commit bool) error, err error) {
	lockLate := s.Dialect == offsets.PostgreSQL
	if lockLate {
		if err := s.Store.CheckOffsets(ctx, nil, job, ranges); err != nil {
			return nil, err
		}
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Desc, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", s.Desc, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			conn.Close()
		}
	}()
	if lockLate {
		err = s.boundIdle(ctx, tx)
	} else {
		err = s.Store.CommitOffsets(ctx, tx, job, ranges)
	}
	if err != nil {
		return nil, err
	}
	if err := conn.Raw(write); err != nil {
		return nil, err
	}
	return func(commit bool) error {
		defer conn.Close()
		if !commit {
			return tx.Rollback()
		}
		if lockLate {
			if err := s.Store.CommitOffsets(ctx, tx, job, ranges); err != nil {
				tx.Rollback()
				return err
			}
			if testHookPositionsCommitted != nil {
				testHookPositionsCommitted(s)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing to %s: %w", s.Desc, err)
		}
		if s.wal != nil {
			s.wal.committed()
		}
		return nil
	}, nil
}

// testHookPositionsCommitted, when a test sets it, runs after the
// positions were committed and before COMMIT: where a PostgreSQL writer
// holds the positions' row locks.
var testHookPositionsCommitted func(*Sink)

// execInsert runs the INSERT of args' rows on a driver connection: a
// full chunk with *full, prepared on first use, any other with a
// statement of its own.
func (s *Sink) execInsert(ctx context.Context, c driver.ConnPrepareContext, full *driver.Stmt, args []driver.NamedValue) error {
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
func (s *Sink) readChunks(ctx context.Context, job offsets.Job, rdd *eventhubs.RDD, write func(<-chan []any) (func(commit bool) error, error)) error {
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
func (s *Sink) insertError(err error) error {
	if duplicateKey(err) {
		return fmt.Errorf("writing events to %s table %s: an event of this batch is in the table already, written by another job "+
			"(another --job name, or before the hub was deleted and created again into a table made by an older ehstream, whose key lacks enqueued_time): "+
			"give each job a table of its own (--table NEW): %w", s.Desc, s.Table, err)
	}
	return fmt.Errorf("writing events to %s table %s: %w", s.Desc, s.Table, err)
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
func (s *Sink) insert(n int) string {
	row := "(" + strings.Repeat("?,", columns-1) + "?)"
	return s.Dialect.Rebind(`INSERT INTO ` + s.Table + ` (partition_id, sequence_number, "offset", enqueued_time, partition_key, properties, body, eventhub) VALUES ` +
		strings.Repeat(row+",", n-1) + row)
}

func (s *Sink) timeArg(t time.Time) any {
	if s.Dialect == offsets.PostgreSQL {
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
