package sqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// idleInTransaction is how long PostgreSQL lets a batch's transaction wait
// idle for the sink's next statement before it ends the session, rolling
// the transaction back and freeing its locks. A batch never waits on
// itself that long: its events stream in one COPY, a running statement
// rather than an idle one, and its positions are committed just before
// COMMIT, a few round trips apart. Only a writer that stopped (a paused
// process, a frozen machine, a cut network) reaches it, and its locks
// would otherwise stop the job's other writers for as long as it stays
// stopped, hours for a frozen machine. 10 s frees them well before the
// default ownership expiration (a minute) lets another replica claim the
// writer's partitions, and lies far above any pause of a running process;
// a writer stopped longer finds its session ended and its batch not
// committed.
//
// No lock_timeout is set: a writer waiting for the positions' locks waits
// for another's commit, or at most this long for a stopped writer's
// transaction to end, and a lock timeout would only have it roll back a
// batch that it must then read and write again.
const idleInTransaction = 10 * time.Second

const idleInTransactionParam = "idle_in_transaction_session_timeout"

// boundIdle sets idleInTransaction for the batch's transaction alone (SET
// LOCAL, which also holds through a pooler such as PgBouncer), unless the
// --sink URL sets idle_in_transaction_session_timeout itself.
func (s *Sink) boundIdle(ctx context.Context, tx *sql.Tx) error {
	if s.idleTimeoutSet {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SET LOCAL "+idleInTransactionParam+" = "+strconv.FormatInt(idleInTransaction.Milliseconds(), 10))
	if err != nil {
		return fmt.Errorf("%s: setting %s for the batch's transaction: %w", s.Desc, idleInTransactionParam, err)
	}
	return nil
}

// setsIdleTimeout reports whether a postgres:// spec (with PGOPTIONS)
// sets idle_in_transaction_session_timeout, as a parameter or in
// "options"; PostgreSQL's names ignore case.
func setsIdleTimeout(spec string) bool {
	cfg, err := pgconn.ParseConfig(spec)
	if err != nil {
		return false // connecting with it fails, and says why
	}
	for k, v := range cfg.RuntimeParams {
		if strings.EqualFold(k, idleInTransactionParam) || (strings.EqualFold(k, "options") && strings.Contains(strings.ToLower(v), idleInTransactionParam)) {
			return true
		}
	}
	return false
}
