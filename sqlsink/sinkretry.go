package sqlsink

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// DefaultStartTimeout is how long RetryStart tries, unless
// StartOptions.Timeout says otherwise.
const DefaultStartTimeout = 5 * time.Minute

// StartOptions are RetryStart's options; nil means defaults.
type StartOptions struct {
	// Timeout bounds the tries, and each try: a step still failing after
	// it fails the start. 0 means DefaultStartTimeout.
	Timeout time.Duration
	// Logger gets a warning for each failed try that is made again. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// RetryStart runs step, a start's step that reaches a database (what names
// it: "connecting to the sink"), until it succeeds, as a run retries a
// batch (RetryBatch): a failure that passes (Transient: the database
// restarting or out of reach) is tried again after 250 ms, then twice as
// long each time up to 30 s, each logged as a warning ("sqlsink: <what>
// failed; trying again", with attempt, wait and err), so that a job
// started while its database is down waits for it as a running one does.
// Any other error is returned, and once the timeout is spent a
// *StartTimeoutError with the last. A step must be safe to run again
// after it failed.
func RetryStart(ctx context.Context, what string, step func(ctx context.Context) error, opts *StartOptions) error {
	o := StartOptions{Timeout: DefaultStartTimeout, Logger: slog.Default()}
	if opts != nil && opts.Timeout > 0 {
		o.Timeout = opts.Timeout
	}
	if opts != nil && opts.Logger != nil {
		o.Logger = opts.Logger
	}
	deadline := time.Now().Add(o.Timeout)
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := step(tctx)
		if err == nil {
			return nil
		}
		wait, again := RetryBatch(err, attempt)
		switch {
		case ctx.Err() != nil || !again:
			return err
		case tctx.Err() != nil: // the timeout cut the try
			return &StartTimeoutError{What: what, Tries: attempt, Timeout: o.Timeout, Err: err}
		}
		wait = min(wait, time.Until(deadline))
		o.Logger.Warn("sqlsink: "+what+" failed; trying again", "attempt", attempt, "wait", wait.Round(time.Millisecond).String(), "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		if !time.Now().Before(deadline) {
			return &StartTimeoutError{What: what, Tries: attempt, Timeout: o.Timeout, Err: err}
		}
	}
}

// StartTimeoutError is a start's step that still failed, for a reason that
// passes, when RetryStart's timeout was spent.
type StartTimeoutError struct {
	What    string
	Tries   int
	Timeout time.Duration
	Err     error // the last try's
}

func (e *StartTimeoutError) Error() string {
	return fmt.Sprintf("sqlsink: %s failed %d times in %s, the start's timeout: %v", e.What, e.Tries, e.Timeout.Round(time.Millisecond), e.Err)
}

func (e *StartTimeoutError) Unwrap() error { return e.Err }

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
