package offsets

import (
	"context"
	"database/sql"
	"errors"
)

// migrate brings a table made by an older ehstream up to date: it adds
// the output, hub_created_ms and batch_ms columns, and moves positions stored under names spelled in
// upper case (older versions kept names as typed) to the lower-case names
// the store keeps now. A partition with two different positions under two
// spellings is left as it is: LoadPositions refuses that job alone and
// says what to do, and other jobs go on. It runs at every Open and costs
// one scan of a table that holds a row per job and partition.
func (s *Store) migrate(ctx context.Context) error {
	if err := s.addColumn(ctx, "output", "TEXT"); err != nil {
		return err
	}
	if err := s.addColumn(ctx, "hub_created_ms", "BIGINT"); err != nil {
		return err
	}
	if err := s.addColumn(ctx, "batch_ms", "BIGINT"); err != nil {
		return err
	}
	if err := s.addOneWriterIndex(ctx); err != nil {
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

// addColumn adds a column to the positions table made before it existed.
func (s *Store) addColumn(ctx context.Context, column, typ string) error {
	return AddColumn(ctx, s.db, s.dialect, s.table, column, typ)
}

// AddColumn adds column, of SQL type typ, to a table made before it
// existed, for packages that keep tables beside the positions (package
// ownership). It looks first: an ALTER TABLE waits for every transaction
// on the table, such as a running job's batch. Two programs opening the
// table at once may both alter; the loser finds the column there.
func AddColumn(ctx context.Context, db *sql.DB, dialect Dialect, table, column, typ string) error {
	if has, err := hasColumn(ctx, db, dialect, table, column); err != nil || has {
		return err
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+typ)
	if err != nil {
		if has, herr := hasColumn(ctx, db, dialect, table, column); herr == nil && has {
			return nil
		}
	}
	return err
}

// hasColumn asks the database's catalogue whether table has column.
func hasColumn(ctx context.Context, db *sql.DB, dialect Dialect, table, column string) (bool, error) {
	query := `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`
	if dialect == PostgreSQL {
		// Unquoted names are folded to lower case in PostgreSQL.
		query = `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = lower(?) AND column_name = ?`
	}
	var n int
	err := db.QueryRowContext(ctx, dialect.Rebind(query), table, column).Scan(&n)
	return n > 0, err
}

// Columns lists table's columns in their order, as the database's
// catalogue names them (PostgreSQL folds unquoted names to lower case);
// none when there is no such table. Packages that write tables of their
// own beside the positions (package sqlsink) check an existing table's
// shape with it.
func Columns(ctx context.Context, db *sql.DB, dialect Dialect, table string) ([]string, error) {
	query := `SELECT name FROM pragma_table_info(?) ORDER BY cid`
	if dialect == PostgreSQL {
		query = `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = lower(?) ORDER BY ordinal_position`
	}
	rows, err := db.QueryContext(ctx, dialect.Rebind(query), table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}
