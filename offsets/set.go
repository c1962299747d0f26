package offsets

import (
	"context"
	"fmt"
)

// SetPosition stores next as the job's position of partition, whatever
// the stored position was, and creates it if there is none; the output the
// positions remember is kept. It is a checkpoint, not a commit: where
// CommitOffsets moves a position only from where the batch starts, so that
// a batch commits once, SetPosition moves it anywhere, forward or back. It
// is for a checkpoint store's SetCheckpoint (package ownership), through
// which a stock azeventhubs.Processor records how far it has processed.
func (s *Store) SetPosition(ctx context.Context, job Job, partition string, next int64) error {
	job = job.canonical()
	if err := job.validate(); err != nil {
		return err
	}
	if partition == "" {
		return fmt.Errorf("offsets: job %s: setting a position: the partition is empty", job)
	}
	if next < 0 {
		return fmt.Errorf("offsets: job %s partition %s: position %d is negative", job, partition, next)
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO `+s.table+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job, namespace, eventhub, consumer_group, partition_id) DO UPDATE SET next_seq = excluded.next_seq, updated_ms = excluded.updated_ms`),
		job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, partition, next, nowMillis())
	if err != nil {
		return fmt.Errorf("offsets: job %s partition %s: setting the position: %w", job, partition, err)
	}
	return nil
}
