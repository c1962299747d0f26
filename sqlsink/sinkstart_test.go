package sqlsink_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/sqlsink"
)

// RetryStart tries a step that fails for a reason that passes as a run
// retries a batch, logging each failure, until it succeeds or the timeout
// is spent; any other failure is returned at once.
func TestRetryStart(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	down := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	var logs bytes.Buffer
	opts := &sqlsink.StartOptions{Timeout: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	tries := 0
	err := sqlsink.RetryStart(ctx, "connecting to the sink", func(context.Context) error {
		if tries++; tries < 3 {
			return down
		}
		return nil
	}, opts)
	if err != nil || tries != 3 || strings.Count(logs.String(), `msg="sqlsink: connecting to the sink failed; trying again"`) != 2 ||
		!strings.Contains(logs.String(), "attempt=2 wait=500ms") || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("RetryStart = %v after %d tries, logging:\n%s\nwant success at the third, two warnings with their waits and causes", err, tries, logs.String())
	}

	bad := errors.New("password authentication failed")
	tries = 0
	if err := sqlsink.RetryStart(ctx, "x", func(context.Context) error { tries++; return bad }, opts); err != bad || tries != 1 {
		t.Errorf("RetryStart of an error that does not pass = %v after %d tries, want it at once", err, tries)
	}

	opts.Timeout = 800 * time.Millisecond
	begin := time.Now()
	err = sqlsink.RetryStart(ctx, "x", func(context.Context) error { return down }, opts)
	var te *sqlsink.StartTimeoutError
	if took := time.Since(begin); !errors.As(err, &te) || !errors.Is(err, down) || te.Tries < 3 || took < opts.Timeout || took > 5*time.Second {
		t.Errorf("RetryStart of a step always down = %v after %s, want a *StartTimeoutError with the cause after %s", err, took, opts.Timeout)
	}
}

// A table of another shape is refused at the check, naming the columns
// it lacks; a table that has them all, or none yet, passes.
func TestCheckTable(t *testing.T) {
	for _, c := range []struct{ name, spec string }{{"sqlite", ""}, {"postgres", "postgres"}} {
		t.Run(c.name, func(t *testing.T) {
			spec := "sqlite:" + filepath.Join(t.TempDir(), "events.db")
			if c.spec != "" {
				spec = postgresSchema(t)
			}
			sk := openSink(t, spec) // makes "events"
			ctx := testCtx(t, 30*time.Second)
			if _, err := sk.DB.ExecContext(ctx, `CREATE TABLE Readings (id BIGINT, EventHub TEXT, body TEXT)`); err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]string{"events": "", "fresh": "", "readings": "sequence_number"} {
				other, err := sqlsink.Parse(spec, table)
				if err != nil {
					t.Fatal(err)
				}
				other.DB, other.Dialect, other.Store = sk.DB, sk.Dialect, sk.Store
				err = other.CheckTable(ctx)
				var te *sqlsink.TableError
				switch {
				case want == "" && err != nil:
					t.Errorf("CheckTable of %s: %v", table, err)
				case want != "" && (!errors.As(err, &te) || strings.Join(te.Missing, ",") != "partition_id,sequence_number,offset,enqueued_time,partition_key,properties"):
					t.Errorf("CheckTable of %s: %v, want a *TableError missing partition_id to properties", table, err)
				}
			}
		})
	}
}
