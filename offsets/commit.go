package offsets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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
	return fmt.Sprintf("offsets: job %s partition %s: the stored position is %d but the batch starts at %d: %s; roll the transaction back. "+
		"A stream that started elsewhere than the stored positions (its checkpoint deleted or new, or its starting position moved) fails so at every batch: "+
		"start the stream from the stored positions (Store.Resume(ctx, job, conf) before the stream is made, or stream.SetStoredPositions(store.StoredPositions(job)))",
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
	// A position moves on the hub it was stored for (hubCreatedMatches),
	// and records the creation time of the hub the range was planned on.
	update := s.q(`UPDATE ` + s.table + ` SET next_seq = ?, updated_ms = ?, output = COALESCE(NULLIF(?, ''), output),
			hub_created_ms = COALESCE(NULLIF(CAST(? AS BIGINT), 0), hub_created_ms)
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ? AND next_seq = ?
			AND (output IS NULL OR ? = '' OR lower(output) = lower(?)) AND ` + hubCreatedMatches)
	moved := false
	for _, r := range ranges {
		key := []any{job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, r.PartitionID}
		from := storedFrom(r)
		created := createdMillis(r.HubCreatedOn)
		args := append(append([]any{r.UntilSeqNo, now, job.Output, created}, key...), from, job.Output, job.Output, created, created, r.ResetFrom)
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
			if cerr := s.writerConflict(ctx, q, job, r.PartitionID, created); cerr != nil {
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
		res, err = tx.ExecContext(ctx, s.q(`INSERT INTO `+s.table+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output, hub_created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(CAST(? AS BIGINT), 0)) ON CONFLICT DO NOTHING`), append(key, r.UntilSeqNo, now, job.Output, created)...)
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
		var storedCreated sql.NullInt64
		err = tx.QueryRowContext(ctx, s.q(`SELECT next_seq, output, hub_created_ms FROM `+s.table+`
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ?`), key...).Scan(&stored, &storedOutput, &storedCreated)
		if errors.Is(err, sql.ErrNoRows) {
			// The insert broke no key of the job's own: another job's
			// position of the output holds oneWriterIndex.
			if cerr := s.writerConflict(ctx, tx, job, r.PartitionID, created); cerr != nil {
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
		if row := (storedRow{next: stored, created: storedCreated}); stored == from && !row.onHubOf(r) {
			return otherHub(job, r, time.UnixMilli(storedCreated.Int64))
		}
		return &MismatchError{Job: job, Partition: r.PartitionID, Stored: stored, Expected: from, Until: r.UntilSeqNo, moved: moved}
	}
	return nil
}

// onHubOf reports whether the position may move by range r as far as
// hubs go: hubCreatedMatches, for a position read before.
func (row storedRow) onHubOf(r eventhubs.OffsetRange) bool {
	created := createdMillis(r.HubCreatedOn)
	return !row.created.Valid || created == 0 || row.created.Int64 == created || r.ResetFrom != 0 || row.next == 0
}

// hubCreatedMatches is the condition under which a stored position moves
// by a range (arguments: the range's hub creation time twice, its
// ResetFrom): the position was stored for the same hub, or for a hub whose
// creation time is unknown (stored before ehstream kept it, or a range that
// does not say), or the range restarts the numbering (ResetFrom), or
// nothing of the partition was committed yet (the position is 0).
const hubCreatedMatches = `(hub_created_ms IS NULL OR CAST(? AS BIGINT) = 0 OR hub_created_ms = CAST(? AS BIGINT) OR CAST(? AS BIGINT) <> 0 OR next_seq = 0)`

// createdMillis is a hub's creation time as the positions keep it: Unix
// milliseconds, 0 when unknown.
func createdMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// otherHub is the error of a range planned on another hub than the one the
// partition's position was stored for: the hub was deleted and created
// again, and its sequence numbers restarted. Continuing the old position
// would skip the new hub's first events; it is data loss, never a stale
// range to plan again.
func otherHub(job Job, r eventhubs.OffsetRange, stored time.Time) error {
	return &eventhubs.Error{Code: eventhubs.CodeDataLoss, Hub: job.EventHub, PartitionID: r.PartitionID,
		Message: fmt.Sprintf("job %s: the stored position %d belongs to the hub created at %s, but the batch reads the hub created at %s: "+
			"the hub was deleted and created again, and its sequence numbers restarted; start the job again to detect it and decide "+
			"(with FailOnDataLoss false it reads the new hub from its first event)",
			job, r.FromSeqNo, stored.UTC().Format(time.RFC3339Nano), r.HubCreatedOn.UTC().Format(time.RFC3339Nano))}
}
