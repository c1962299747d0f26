package offsets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
}

func (e *MismatchError) Error() string {
	what := "a repeated batch: the range was committed already"
	if e.Stored < e.Expected {
		what = fmt.Sprintf("a gap: events [%d, %d) were never committed", e.Stored, e.Expected)
	}
	return fmt.Sprintf("offsets: %s partition %s: the stored position is %d but the batch starts at %d: %s; roll the transaction back",
		e.Job, e.Partition, e.Stored, e.Expected, what)
}

// CommitOffsets records, in tx, that the job has processed ranges: each
// partition's stored position moves from FromSeqNo to UntilSeqNo, and is
// created by the partition's first batch. If a partition's stored position
// is not FromSeqNo it returns a *MismatchError and changes nothing the
// caller should keep: roll tx back. A concurrent writer of the same
// job blocks or fails on the same rows, so one range commits once.
func (s *Store) CommitOffsets(ctx context.Context, tx *sql.Tx, job Job, ranges []eventhubs.OffsetRange) error {
	if err := job.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, r := range ranges {
		if err := r.Validate(); err != nil {
			return err
		}
		if r.Name != job.EventHub {
			return fmt.Errorf("offsets: range %s is of event hub %q, the %s reads %q", r, r.Name, job, job.EventHub)
		}
		if seen[r.PartitionID] {
			return fmt.Errorf("offsets: partition %s appears twice in the batch's ranges", r.PartitionID)
		}
		seen[r.PartitionID] = true
	}
	now := nowMillis()
	for _, r := range ranges {
		key := []any{job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, r.PartitionID}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE `+s.table+` SET next_seq = ?, updated_ms = ?
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ? AND next_seq = ?`),
			append(append([]any{r.UntilSeqNo, now}, key...), r.FromSeqNo)...)
		if err != nil {
			return fmt.Errorf("offsets: %s partition %s: %w", job, r.PartitionID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			continue
		}
		res, err = tx.ExecContext(ctx, s.q(`INSERT INTO `+s.table+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`), append(key, r.UntilSeqNo, now)...)
		if err != nil {
			return fmt.Errorf("offsets: %s partition %s: %w", job, r.PartitionID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			continue // the partition's first batch
		}
		var stored int64
		err = tx.QueryRowContext(ctx, s.q(`SELECT next_seq FROM `+s.table+`
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ?`), key...).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("offsets: %s partition %s: the position was neither updated nor inserted; a concurrent writer removed it", job, r.PartitionID)
		}
		if err != nil {
			return fmt.Errorf("offsets: %s partition %s: %w", job, r.PartitionID, err)
		}
		return &MismatchError{Job: job, Partition: r.PartitionID, Stored: stored, Expected: r.FromSeqNo}
	}
	return nil
}
