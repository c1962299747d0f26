package offsets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// One output, one writer per hub partition. Two jobs (another name, or
// another consumer group) that write a hub into the same output would
// both write every event: their positions are their own, so neither
// refuses the other's batches. The positions table therefore allows one
// job per namespace, hub, partition and output: LoadPositions refuses the
// second job at its start, and a unique index (oneWriterIndex) refuses it
// in the transaction of its first batch, should two start together. The
// events themselves need no key for exactly once, and are cheaper to write
// without one.

// oneWriterIndex is the unique index that lets one job write a hub
// partition into an output.
func (s *Store) oneWriterIndex() string { return s.table + "_one_writer" }

// addOneWriterIndex creates oneWriterIndex, unless the table holds two
// jobs writing one output already (an older ehstream let them, and the
// output's key caught their collisions): LoadPositions refuses those jobs,
// and the index is created by the first Open after one is deleted. It
// looks first, as a CREATE INDEX waits for every transaction on the table.
func (s *Store) addOneWriterIndex(ctx context.Context) error {
	if has, err := s.hasOneWriterIndex(ctx); err != nil || has {
		return err
	}
	var shared int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+s.table+` WHERE output IS NOT NULL
		GROUP BY lower(namespace), lower(eventhub), partition_id, lower(output) HAVING count(*) > 1) AS shared`).Scan(&shared)
	if err != nil || shared > 0 {
		return err
	}
	_, err = s.db.ExecContext(ctx, `CREATE UNIQUE INDEX IF NOT EXISTS `+s.oneWriterIndex()+` ON `+s.table+
		` (lower(namespace), lower(eventhub), partition_id, lower(output)) WHERE output IS NOT NULL`)
	if err != nil {
		// Two programs opening the table at once: the loser finds it there.
		if has, herr := s.hasOneWriterIndex(ctx); herr == nil && has {
			return nil
		}
		return fmt.Errorf("creating index %s: %w", s.oneWriterIndex(), err)
	}
	return nil
}

func (s *Store) hasOneWriterIndex(ctx context.Context) (bool, error) {
	query := `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?`
	if s.dialect == PostgreSQL {
		query = `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = lower(?)`
	}
	var n int
	err := s.db.QueryRowContext(ctx, s.q(query), s.oneWriterIndex()).Scan(&n)
	return n > 0, err
}

// querier is what both *sql.DB and *sql.Tx query with.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writerConflict returns the *ConflictError of a job whose output another
// job writes from the same hub (partition "" means any of its
// partitions), or nil when none does. The same hub is the same namespace
// and hub name, or, given the hub's creation time (created, Unix ms; 0
// when unknown), the hub of that name created then under any spelling of
// the namespace.
func (s *Store) writerConflict(ctx context.Context, q querier, job Job, partition string, created int64) error {
	if job.Output == "" {
		return nil
	}
	query := `SELECT job, consumer_group, partition_id FROM ` + s.table + `
		WHERE (lower(namespace) = ? OR (CAST(? AS BIGINT) <> 0 AND hub_created_ms = CAST(? AS BIGINT))) AND lower(eventhub) = ? AND lower(output) = lower(?) AND NOT (job = ? AND consumer_group = ?)`
	args := []any{job.Namespace, created, created, job.EventHub, job.Output, job.Name, job.ConsumerGroup}
	if partition != "" {
		query += ` AND partition_id = ?`
		args = append(args, partition)
	}
	var other Job
	var otherPartition string
	err := q.QueryRowContext(ctx, s.q(query+` ORDER BY job, consumer_group, partition_id LIMIT 1`), args...).
		Scan(&other.Name, &other.ConsumerGroup, &otherPartition)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("offsets: job %s: looking for other writers of output %q: %w", job, job.Output, err)
	}
	other.Namespace, other.EventHub, other.Output = job.Namespace, job.EventHub, job.Output
	what := fmt.Sprintf("job %q", other.Name)
	if other.Name == job.Name {
		what = fmt.Sprintf("this job's name with consumer group %q", other.ConsumerGroup)
	} else if !strings.EqualFold(other.ConsumerGroup, job.ConsumerGroup) {
		what += fmt.Sprintf(" (consumer group %q)", other.ConsumerGroup)
	}
	return &ConflictError{Job: job, Writer: &other, Message: fmt.Sprintf("output %q holds hub %s partition %s written by another job, %s: "+
		"two jobs writing one hub into one output would both write every event; give each job an output of its own, or run this one as job %q",
		job.Output, job.EventHub, otherPartition, what, other.Name)}
}
