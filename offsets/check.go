package offsets

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// CheckOffsets reads the job's stored positions of ranges' partitions,
// without locking them, and returns the error CommitOffsets would return
// for the batch now: a *MismatchError when a partition's stored position
// is not where its range starts, a *ConflictError when the positions
// belong to another Output or another job writes a partition into it.
// Nil says the batch may commit, unless another writer commits first:
// CommitOffsets decides.
//
// It lets a transaction write the batch's results first and run
// CommitOffsets last, just before COMMIT, so that the positions' rows are
// locked for the commit only: a writer that stops inside its transaction
// (a paused process, a frozen machine) then blocks no other writer of the
// job while it writes. Called at the transaction's start, it makes a batch
// that another instance of the job committed already fail before its
// results collide with that instance's. tx may be nil, to read outside any
// transaction.
func (s *Store) CheckOffsets(ctx context.Context, tx *sql.Tx, job Job, ranges []eventhubs.OffsetRange) error {
	job, err := validBatch(job, ranges)
	if err != nil {
		return err
	}
	var q rowsQuerier = s.db
	if tx != nil {
		q = tx
	}
	stored, err := s.storedRows(ctx, q, job)
	if err != nil {
		return err
	}
	moved := false // as CommitOffsets would have by each range
	for _, r := range ranges {
		from := storedFrom(r)
		created := createdMillis(r.HubCreatedOn)
		row, ok := stored[r.PartitionID]
		if ok {
			if err := outputConflict(job, row.output); err != nil {
				return err
			}
			if row.next != from {
				return &MismatchError{Job: job, Partition: r.PartitionID, Stored: row.next, Expected: from, Until: r.UntilSeqNo, moved: moved}
			}
			if !row.onHubOf(r) {
				return otherHub(job, r, time.UnixMilli(row.created.Int64))
			}
		}
		if !ok || (job.Output != "" && !row.output.Valid) {
			// The position, made or given the output, would break
			// oneWriterIndex where another job writes the output.
			if err := s.writerConflict(ctx, q, job, r.PartitionID, created); err != nil {
				return err
			}
		}
		moved = moved || !ok || r.UntilSeqNo != from
	}
	return nil
}

// rowsQuerier is what both *sql.DB and *sql.Tx query with.
type rowsQuerier interface {
	querier
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// storedRows reads the job's positions by partition, in one query.
func (s *Store) storedRows(ctx context.Context, q rowsQuerier, job Job) (map[string]storedRow, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT partition_id, next_seq, output, hub_created_ms FROM `+s.table+`
		WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ?`), job.Name, job.Namespace, job.EventHub, job.ConsumerGroup)
	if err != nil {
		return nil, fmt.Errorf("offsets: job %s: reading the positions: %w", job, err)
	}
	defer rows.Close()
	out := map[string]storedRow{}
	for rows.Next() {
		row := storedRow{namespace: job.Namespace, hub: job.EventHub, group: job.ConsumerGroup}
		if err := rows.Scan(&row.partition, &row.next, &row.output, &row.created); err != nil {
			return nil, fmt.Errorf("offsets: job %s: reading the positions: %w", job, err)
		}
		out[row.partition] = row
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offsets: job %s: reading the positions: %w", job, err)
	}
	return out, nil
}

// validBatch is the job in the store's spelling, or an error when it or
// the batch's ranges cannot be committed: a range of another hub, or a
// partition twice.
func validBatch(job Job, ranges []eventhubs.OffsetRange) (Job, error) {
	job = job.canonical()
	if err := job.validate(); err != nil {
		return job, err
	}
	seen := map[string]bool{}
	for _, r := range ranges {
		if err := r.Validate(); err != nil {
			return job, err
		}
		if !strings.EqualFold(r.Name, job.EventHub) {
			return job, fmt.Errorf("offsets: range %s is of event hub %q, job %s reads %q", r, r.Name, job, job.EventHub)
		}
		if seen[r.PartitionID] {
			return job, fmt.Errorf("offsets: partition %s appears twice in the batch's ranges", r.PartitionID)
		}
		seen[r.PartitionID] = true
	}
	return job, nil
}

// storedFrom is the stored position a range moves from: its start, or
// ResetFrom for a range after the hub's numbering restarted.
func storedFrom(r eventhubs.OffsetRange) int64 {
	if r.ResetFrom != 0 {
		return r.ResetFrom
	}
	return r.FromSeqNo
}
