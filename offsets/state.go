package offsets

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/ehstream/ehstream/streaming"
)

// StateTableSuffix names the table that holds the state of stateful
// steps kept per partition, beside the positions' table: for
// "ehstream_offsets", "ehstream_offsets_state".
const StateTableSuffix = "_state"

// PartitionState is a job's state of stateful steps kept per partition
// (streaming.KeepStatePerPartition), in the table beside its positions: a
// streaming.PartitionStateStore. CommitBatch writes a batch's records
// (BatchOf takes them) in the transaction of the batch's positions, so a
// partition's state is always the state as of its stored position, and a
// replica that takes the partition over loads both at once.
type PartitionState struct {
	s   *Store
	job Job
}

// PartitionState returns the job's state per partition, creating its
// table if needed. Give it to streaming.KeepStatePerPartition, and commit
// each batch with CommitBatch and BatchOf, under the same job.
func (s *Store) PartitionState(ctx context.Context, job Job) (*PartitionState, error) {
	job = job.canonical()
	if err := job.validate(); err != nil {
		return nil, err
	}
	if err := s.ensureStateTable(ctx, s.db); err != nil {
		return nil, err
	}
	return &PartitionState{s: s, job: job}, nil
}

var _ streaming.PartitionStateStore = (*PartitionState)(nil)

// stateTables remembers the state tables made, so that CommitBatch creates
// one once per process.
var stateTables sync.Map // *sql.DB + table name -> true

func (s *Store) stateTable() string { return s.table + StateTableSuffix }

// execer is a database or a transaction: the state table is made in the
// batch's transaction, so that a database of one connection is not
// asked for a second.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) ensureStateTable(ctx context.Context, db execer) error {
	key := fmt.Sprintf("%p %s", s.db, s.stateTable())
	if _, ok := stateTables.Load(key); ok {
		return nil
	}
	if err := ValidateTableName(s.stateTable()); err != nil {
		return fmt.Errorf("offsets: the state table beside %s: %w; give the positions a shorter table name", s.table, err)
	}
	blob := "BLOB"
	if s.dialect == PostgreSQL {
		blob = "BYTEA"
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + s.stateTable() + ` (
	job            TEXT    NOT NULL,
	namespace      TEXT    NOT NULL,
	eventhub       TEXT    NOT NULL,
	consumer_group TEXT    NOT NULL,
	partition_id   TEXT    NOT NULL,
	step           TEXT    NOT NULL,
	seq            BIGINT  NOT NULL,
	kind           TEXT    NOT NULL,
	full_state     BOOLEAN NOT NULL,
	data           ` + blob + ` NOT NULL,
	updated_ms     BIGINT  NOT NULL,
	PRIMARY KEY (job, namespace, eventhub, consumer_group, partition_id, step, seq))`
	var err error
	for range 3 { // concurrent CREATEs in PostgreSQL can collide; the loser retries
		if _, err = db.ExecContext(ctx, ddl); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("offsets: creating table %s: %w", s.stateTable(), err)
	}
	stateTables.Store(key, true)
	return nil
}

// LoadPartitionState returns the partition's stored position and its
// steps' state records, oldest first, read by one statement: one moment
// of the database, in PostgreSQL as in SQLite.
func (p *PartitionState) LoadPartitionState(ctx context.Context, partition string) (*streaming.StoredState, error) {
	s, job := p.s, p.job
	key := []any{job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, partition}
	where := `job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ?`
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT 0 AS part, next_seq AS seq, '' AS step, '' AS kind, false AS full_state, NULL AS data FROM `+s.table+` WHERE `+where+`
		UNION ALL SELECT 1, seq, step, kind, full_state, data FROM `+s.stateTable()+` WHERE `+where+`
		ORDER BY part, step, seq`), append(key, key...)...)
	if err != nil {
		return nil, fmt.Errorf("offsets: job %s: reading partition %s's state: %w", job, partition, err)
	}
	defer rows.Close()
	out := &streaming.StoredState{}
	for rows.Next() {
		var part int
		var seq int64
		rec := streaming.StateRecord{Partition: partition}
		if err := rows.Scan(&part, &seq, &rec.Step, &rec.Kind, &rec.Full, &rec.Data); err != nil {
			return nil, fmt.Errorf("offsets: job %s: reading partition %s's state: %w", job, partition, err)
		}
		if part == 0 {
			out.Position, out.Positioned = seq, true
			continue
		}
		out.Records = append(out.Records, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offsets: job %s: reading partition %s's state: %w", job, partition, err)
	}
	return out, nil
}

// WriteState stores a batch's state records in tx, the transaction that
// commits the batch's positions (CommitBatch calls it): a partition's
// whole record replaces the step's records before it, a changes record
// follows them.
func (s *Store) WriteState(ctx context.Context, tx *sql.Tx, job Job, records []streaming.StateRecord) error {
	if len(records) == 0 {
		return nil
	}
	job = job.canonical()
	if err := s.ensureStateTable(ctx, tx); err != nil {
		return err
	}
	where := `job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ? AND step = ?`
	del := s.q(`DELETE FROM ` + s.stateTable() + ` WHERE ` + where)
	ins := s.q(`INSERT INTO ` + s.stateTable() + ` (job, namespace, eventhub, consumer_group, partition_id, step, seq, kind, full_state, data, updated_ms)
		SELECT ?, ?, ?, ?, ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM ` + s.stateTable() + ` WHERE ` + where)
	now := nowMillis()
	for _, r := range records {
		key := []any{job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, r.Partition, r.Step}
		if r.Full {
			if _, err := tx.ExecContext(ctx, del, key...); err != nil {
				return fmt.Errorf("offsets: job %s: compacting partition %s's state of %s: %w", job, r.Partition, r.Step, err)
			}
		}
		args := append(append(append([]any{}, key...), r.Kind, r.Full, r.Data, now), key...)
		if _, err := tx.ExecContext(ctx, ins, args...); err != nil {
			return fmt.Errorf("offsets: job %s: storing partition %s's state of %s: %w", job, r.Partition, r.Step, err)
		}
	}
	return nil
}
