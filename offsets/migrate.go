package offsets

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// migrate brings a table made by an older ehstream up to date: it adds
// the output column, and moves positions stored under names spelled in
// upper case (older versions kept names as typed) to the lower-case names
// the store keeps now. A partition with two different positions under two
// spellings is left as it is: LoadPositions refuses that job alone and
// says what to do, and other jobs go on. It runs at every Open and costs
// one scan of a table that holds a row per job and partition.
func (s *Store) migrate(ctx context.Context) error {
	if err := s.addOutputColumn(ctx); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT job, namespace, eventhub, consumer_group, partition_id, next_seq FROM `+s.table+`
		WHERE namespace <> lower(namespace) OR eventhub <> lower(eventhub) OR consumer_group <> lower(consumer_group)`)
	if err != nil {
		return err
	}
	type row struct {
		job       Job
		partition string
		next      int64
	}
	var mixed []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.job.Name, &r.job.Namespace, &r.job.EventHub, &r.job.ConsumerGroup, &r.partition, &r.next); err != nil {
			rows.Close()
			return err
		}
		mixed = append(mixed, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(mixed) == 0 {
		return nil
	}
	where := ` WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ?`
	for _, r := range mixed {
		old := []any{r.job.Name, r.job.Namespace, r.job.EventHub, r.job.ConsumerGroup, r.partition}
		lower := r.job.canonical()
		key := []any{lower.Name, lower.Namespace, lower.EventHub, lower.ConsumerGroup, r.partition}
		var next int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT next_seq FROM `+s.table+where), key...).Scan(&next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE `+s.table+` SET namespace = ?, eventhub = ?, consumer_group = ?`+where),
				append([]any{lower.Namespace, lower.EventHub, lower.ConsumerGroup}, old...)...); err != nil {
				return err
			}
		case err != nil:
			return err
		case next == r.next:
			// The same position under two spellings: keep one.
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+s.table+where), old...); err != nil {
				return err
			}
		default:
			// Two positions: left for LoadPositions to refuse.
		}
	}
	return tx.Commit()
}

// addOutputColumn adds the output column to a table made before it
// existed. Two programs opening the table at once may both try; the loser's
// "duplicate column" is success.
func (s *Store) addOutputColumn(ctx context.Context) error {
	// Look before altering: an ALTER TABLE waits for every transaction on
	// the table, such as a running job's batch.
	rows, err := s.db.QueryContext(ctx, `SELECT output FROM `+s.table+` LIMIT 0`)
	if err == nil {
		return rows.Close()
	}
	if msg := err.Error(); !strings.Contains(msg, "no such column") && !strings.Contains(msg, "does not exist") {
		return err
	}
	alter := `ALTER TABLE ` + s.table + ` ADD COLUMN output TEXT`
	if s.dialect == PostgreSQL {
		alter = `ALTER TABLE ` + s.table + ` ADD COLUMN IF NOT EXISTS output TEXT`
	}
	_, err = s.db.ExecContext(ctx, alter)
	if err != nil && strings.Contains(err.Error(), "duplicate column") {
		return nil
	}
	return err
}
