package sqlsink

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// RetryBatch is the stream's streaming.ContextOptions.Retry: a batch whose
// transaction failed for a reason that passes (the database locked by
// another writer, busy, full, restarting or out of reach, the connection
// lost) runs again with the same ranges, after a wait that doubles up to
// maxRetryWait. Nothing is written twice: a transaction that failed
// committed nothing, and one whose COMMIT landed though its reply was
// lost is found committed by the retry (offsets.MismatchError, which
// says AlreadyCommitted), which the stream counts as done. Any other
// error (the job's positions conflict, a bad table, the hub) ends the job
// as before.
func RetryBatch(err error, attempt int) (time.Duration, bool) {
	if !Transient(err) {
		return 0, false
	}
	return min(firstRetryWait<<min(attempt-1, 16), maxRetryWait), true
}

const (
	firstRetryWait = 250 * time.Millisecond
	maxRetryWait   = 30 * time.Second
)

// Transient reports whether err is a database's failure that a
// later try may not meet.
func Transient(err error) bool {
	var (
		ehErr    *eventhubs.Error
		conflict *offsets.ConflictError
		mismatch *offsets.MismatchError
	)
	if errors.As(err, &ehErr) || errors.As(err, &conflict) || errors.As(err, &mismatch) {
		return false // the hub's errors are retried where they happen; the job's positions disagree
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),          // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(pgErr.Code, "58"),          // system error (I/O)
			pgErr.Code == "40001",                        // serialization failure
			pgErr.Code == "40P01",                        // deadlock detected
			pgErr.Code == "55P03",                        // lock not available
			pgErr.Code == "57014",                        // query canceled (statement_timeout)
			pgErr.Code == "25P03", pgErr.Code == "57P05", // the server ended an idle transaction or session (a writer paused in its batch)
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // the server shuts down or starts
			return true
		}
		return false
	}
	// The connection, not the statement: refused, reset, timed out, closed.
	// A connection lost while COMMIT waits for its reply (the server
	// closed it: a failover, a backend terminated while it waited for a
	// synchronous standby) is pgx's "conn closed" (ErrConnClosed), or an
	// EOF: the commit may have landed, which the retry finds out.
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || pgconn.Timeout(err) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
