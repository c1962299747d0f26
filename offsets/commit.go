package offsets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
)

// MismatchError is a batch that does not start where the job's stored
// position is: a repeated batch (Stored > Expected) or a gap (Stored <
// Expected). The caller rolls its transaction back.
type MismatchError struct {
	Job       Job
	Partition string
	Stored    int64 // the stored position: the next sequence number to commit
	Expected  int64 // the batch's FromSeqNo
	Until     int64 // the batch's UntilSeqNo
	// moved is set when the batch moved an earlier partition's position in
	// this transaction: then the batch as a whole had not committed.
	moved bool
}

func (e *MismatchError) Error() string {
	what := "a repeated batch: the range was committed already (by this job before a restart, or by another instance of it running at the same time)"
	if e.Stored < e.Expected {
		what = fmt.Sprintf("a gap: events [%d, %d) were never committed", e.Stored, e.Expected)
	}
	return fmt.Sprintf("offsets: job %s partition %s: the stored position is %d but the batch starts at %d: %s; roll the transaction back",
		e.Job, e.Partition, e.Stored, e.Expected, what)
}

// StalePartition names the partition whose range is stale
// (eventhubs.StaleRange): a stream sharing partitions reads its position
// anew and plans the batch again.
func (e *MismatchError) StalePartition() string { return e.Partition }

var _ eventhubs.StaleRange = (*MismatchError)(nil)

// ConflictError is a job whose stored positions it must not use: they
// belong to another output, or the job's name holds positions for another
// consumer group of the same hub. Nothing was changed.
type ConflictError struct {
	Job     Job
	Message string
	// Writer is the other job that writes the hub into Job's output, when
	// that is the conflict (another name, or another consumer group).
	Writer *Job
}

func (e *ConflictError) Error() string { return "offsets: job " + e.Job.String() + ": " + e.Message }

// outputConflict is the error when the job's positions were stored for
// another output than the job's; nil when the two agree or either names
// none (positions stored before outputs were recorded take the job's).
func outputConflict(job Job, stored sql.NullString) error {
	if job.Output == "" || !stored.Valid || strings.EqualFold(stored.String, job.Output) {
		return nil
	}
	return &ConflictError{Job: job, Message: fmt.Sprintf("its positions belong to output %q: output %q starting from them would miss every event before them; "+
		"give the job another name to fill %q from the start of the stream, or write to %q", stored.String, job.Output, job.Output, stored.String)}
}

// CommitOffsets records, in tx, that the job has processed ranges: each
// partition's stored position moves from FromSeqNo (ResetFrom, for a range
// after the hub's numbering restarted) to UntilSeqNo, and is created by
// the partition's first batch. If a partition's stored position is not
// FromSeqNo it returns a *MismatchError, and if the positions belong to
// another Output a *ConflictError; either way it changes nothing the
// caller should keep: roll tx back. A concurrent writer of the same job
// blocks or fails on the same rows, so one range commits once.
//
// Commit the offsets before writing the batch's results in tx, or check
// them first with CheckOffsets and commit them last, which locks their
// rows for the commit only: either way a batch that another instance of
// the job committed already fails before its results collide with that
// instance's.
func (s *Store) CommitOffsets(ctx context.Context, tx *sql.Tx, job Job, ranges []eventhubs.OffsetRange) error {
	job, err := validBatch(job, ranges)
	if err != nil {
		return err
	}
	now := nowMillis()
	// An empty output says nothing: it neither records nor checks one.
	// Positions stored before outputs were recorded take the job's.
	update := s.q(`UPDATE ` + s.table + ` SET next_seq = ?, updated_ms = ?, output = COALESCE(NULLIF(?, ''), output)
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ? AND next_seq = ?
			AND (output IS NULL OR ? = '' OR lower(output) = lower(?))`)
	moved := false
	for _, r := range ranges {
		key := []any{job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, r.PartitionID}
		from := storedFrom(r)
		args := append(append([]any{r.UntilSeqNo, now, job.Output}, key...), from, job.Output, job.Output)
		res, err := tx.ExecContext(ctx, update, args...)
		if err != nil {
			// Recording the output where another job's positions hold it
			// breaks oneWriterIndex. PostgreSQL aborted tx with the
			// statement, and raised the error only once the other job's
			// position committed: it is looked for outside tx.
			var q querier = tx
			if s.dialect == PostgreSQL {
				q = s.db
			}
			if cerr := s.writerConflict(ctx, q, job, r.PartitionID); cerr != nil {
				return cerr
			}
			return fmt.Errorf("offsets: job %s partition %s: %w", job, r.PartitionID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			moved = moved || r.UntilSeqNo != from
			continue
		}
		res, err = tx.ExecContext(ctx, s.q(`INSERT INTO `+s.table+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, '')) ON CONFLICT DO NOTHING`), append(key, r.UntilSeqNo, now, job.Output)...)
		if err != nil {
			return fmt.Errorf("offsets: job %s partition %s: %w", job, r.PartitionID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			moved = true
			continue // the partition's first batch
		}
		var stored int64
		var storedOutput sql.NullString
		err = tx.QueryRowContext(ctx, s.q(`SELECT next_seq, output FROM `+s.table+`
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ?`), key...).Scan(&stored, &storedOutput)
		if errors.Is(err, sql.ErrNoRows) {
			// The insert broke no key of the job's own: another job's
			// position of the output holds oneWriterIndex.
			if cerr := s.writerConflict(ctx, tx, job, r.PartitionID); cerr != nil {
				return cerr
			}
			return fmt.Errorf("offsets: job %s partition %s: the position was neither updated nor inserted; a concurrent writer removed it", job, r.PartitionID)
		}
		if err != nil {
			return fmt.Errorf("offsets: job %s partition %s: %w", job, r.PartitionID, err)
		}
		if err := outputConflict(job, storedOutput); err != nil {
			return err
		}
		return &MismatchError{Job: job, Partition: r.PartitionID, Stored: stored, Expected: from, Until: r.UntilSeqNo, moved: moved}
	}
	return nil
}
