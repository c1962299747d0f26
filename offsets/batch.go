package offsets

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/streaming"
)

// Batch is what CommitBatch commits: the batch's time, which names the
// batch (a replayed batch keeps it), and the ranges it read.
type Batch struct {
	Time   time.Time
	Ranges []eventhubs.OffsetRange
	// State holds the batch's records of state kept per partition
	// (streaming.KeepStatePerPartition), which CommitBatch stores with
	// the positions (WriteState).
	State []streaming.StateRecord

	stateErr error // from taking State
}

// BatchOfRDD is the batch an RDD holds (DirectStream.ForeachRDD).
func BatchOfRDD(rdd *eventhubs.RDD) Batch {
	return Batch{Time: rdd.BatchTime(), Ranges: rdd.OffsetRanges()}
}

// BatchOf is the batch a typed stream's output is given
// (streaming.ForeachBatch): for a window, the ranges read since the
// window's output last ran.
//
// It takes the batch's records of state kept per partition
// (BatchData.StateRecords), which CommitBatch stores with the positions.
func BatchOf[T any](b *streaming.BatchData[T]) Batch {
	state, err := b.StateRecords()
	return Batch{Time: b.Time(), Ranges: eventhubs.OffsetRangesOf(b.OffsetRanges()), State: state, stateErr: err}
}

// CommittedError says the batch had committed before: every partition's
// stored position is the batch's end and was stored by this batch. It
// is a streaming.AlreadyCommitted: a replayed batch, or one retried after
// its commit's reply was lost, counts as done.
type CommittedError struct {
	Job  Job
	Time time.Time
}

func (e *CommittedError) Error() string {
	return fmt.Sprintf("offsets: job %s: the batch of %s committed before; its output is not written again",
		e.Job, e.Time.UTC().Format(time.RFC3339Nano))
}

// AlreadyCommitted is always true: the error is returned only then.
func (e *CommittedError) AlreadyCommitted() bool { return true }

var _ streaming.AlreadyCommitted = (*CommittedError)(nil)

// CommitBatch writes a batch's output exactly once: in one transaction it
// commits the batch's positions (CommitOffsets), records the batch's time
// with them, stores its state kept per partition (Batch.State), runs
// write, and commits. Give it the output's own Job
// (JobWriter): each output keeps its positions.
//
// A batch that committed before is not written again: CommitBatch returns
// a *CommittedError, or CommitOffsets' *MismatchError, both of which a
// replayed or retried batch's output counts as done
// (streaming.AlreadyCommitted), and write is not called. An empty batch
// moves no position, so positions alone cannot tell its replay from the
// next empty batch, while a window's output at an empty batch still writes
// the window: the batch's time is stored on each of its partitions'
// positions (column batch_ms), and a batch whose every position is its end
// and carries its time committed before. The time, not the batch number:
// a stream whose checkpoint was deleted numbers its batches from 1 again,
// but its batch times are later than any it stored. Per partition, not per
// job: replicas sharing a job's partitions (OwnershipOptions) each commit
// their own partitions' rows, at the same aligned batch times.
//
// A batch with no ranges (a replica that owns no partition) read nothing
// and has nothing to commit: write is not called.
func (s *Store) CommitBatch(ctx context.Context, job Job, batch Batch, write func(ctx context.Context, tx *sql.Tx) error) error {
	if len(batch.Ranges) == 0 {
		return nil
	}
	if batch.stateErr != nil {
		return fmt.Errorf("offsets: job %s: %w", job, batch.stateErr)
	}
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("offsets: job %s: beginning the batch's transaction: %w", job, err)
	}
	defer tx.Rollback() // a no-op after Commit
	if done, err := s.batchCommitted(ctx, tx, job, batch); err != nil {
		return err
	} else if done {
		return &CommittedError{Job: job.canonical(), Time: batch.Time}
	}
	if err := s.CommitOffsets(ctx, tx, job, batch.Ranges); err != nil {
		return err
	}
	if err := s.markBatch(ctx, tx, job, batch); err != nil {
		return err
	}
	if err := s.WriteState(ctx, tx, job, batch.State); err != nil {
		return err
	}
	if err := write(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// beginWrite begins a transaction that reads, then writes. In SQLite it
// takes the write lock first: a transaction that read, and then finds
// that another wrote since, fails at once with SQLITE_BUSY, whatever the
// busy timeout, while one that waits for the lock before reading waits as
// long as the timeout lets it.
func (s *Store) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil || s.dialect != SQLite {
		return tx, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+s.table+` SET next_seq = next_seq WHERE 1 = 0`); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// batchCommitted reports whether every partition of the batch stands at
// its range's end with the batch's time stored on it.
func (s *Store) batchCommitted(ctx context.Context, tx *sql.Tx, job Job, batch Batch) (bool, error) {
	job = job.canonical()
	rows, err := tx.QueryContext(ctx, s.q(`SELECT partition_id, next_seq, batch_ms FROM `+s.table+`
		WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ?`), job.Name, job.Namespace, job.EventHub, job.ConsumerGroup)
	if err != nil {
		return false, fmt.Errorf("offsets: job %s: reading the positions: %w", job, err)
	}
	defer rows.Close()
	type mark struct {
		next    int64
		batchMS sql.NullInt64
	}
	stored := map[string]mark{}
	for rows.Next() {
		var id string
		var m mark
		if err := rows.Scan(&id, &m.next, &m.batchMS); err != nil {
			return false, fmt.Errorf("offsets: job %s: reading the positions: %w", job, err)
		}
		stored[id] = m
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("offsets: job %s: reading the positions: %w", job, err)
	}
	for _, r := range batch.Ranges {
		m, ok := stored[r.PartitionID]
		if !ok || m.next != r.UntilSeqNo || !m.batchMS.Valid || m.batchMS.Int64 != batch.Time.UnixMilli() {
			return false, nil
		}
	}
	return true, nil
}

// markBatch stores the batch's time on its partitions' positions, which
// CommitOffsets has just moved or created in tx.
func (s *Store) markBatch(ctx context.Context, tx *sql.Tx, job Job, batch Batch) error {
	job = job.canonical()
	args := []any{batch.Time.UnixMilli(), job.Name, job.Namespace, job.EventHub, job.ConsumerGroup}
	for _, r := range batch.Ranges {
		args = append(args, r.PartitionID)
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(batch.Ranges)), ", ")
	_, err := tx.ExecContext(ctx, s.q(`UPDATE `+s.table+` SET batch_ms = ?
		WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id IN (`+in+`)`), args...)
	if err != nil {
		return fmt.Errorf("offsets: job %s: storing the batch's time with its positions: %w", job, err)
	}
	return nil
}
