package offsets

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// Position is one partition's stored position.
type Position struct {
	Job       Job
	Partition string
	Next      int64 // the first sequence number not yet committed
	Updated   time.Time
}

// LoadPositions returns where the job's committed batches ended, as
// starting positions for Conf.SetStartingPositions: the guide's "begin from
// the offsets committed to the database". A stream given them resumes: a
// partition absent from them is one the hub added since, and the stream
// reads it from the start. With no positions at all the stream starts at
// the conf's StartingPosition.
//
// It returns a *ConflictError, and no positions, when the job's positions
// belong to another Output, or when the job's name holds positions for
// another consumer group of the same hub, or when another job writes the
// hub into the job's Output: each would write the hub's events again, or
// miss them.
func (s *Store) LoadPositions(ctx context.Context, job Job) (map[string]eventhubs.EventPosition, error) {
	job = job.canonical()
	if err := job.validate(); err != nil {
		return nil, err
	}
	rows, err := s.jobRows(ctx, job, false)
	if err != nil {
		return nil, err
	}
	next, err := s.positionsOf(job, rows)
	if err != nil {
		return nil, err
	}
	if err := s.writerConflict(ctx, s.db, job, "", 0); err != nil {
		return nil, err
	}
	out := make(map[string]eventhubs.EventPosition, len(next))
	for id, n := range next {
		out[id] = eventhubs.FromSequenceNumber(n, true)
	}
	return out, nil
}

// positionsOf checks the rows of job's name, hub and namespace (jobRows)
// and returns the positions they hold, by partition. Rows under names that
// differ from the job's only in case are ones migrate could not move; rows
// of another consumer group, or of another output, are positions the job
// must not use: each is a *ConflictError.
func (s *Store) positionsOf(job Job, rows []storedRow) (map[string]int64, error) {
	out := map[string]int64{}
	for _, r := range rows {
		if r.namespace != job.Namespace || r.hub != job.EventHub || (r.group != job.ConsumerGroup && strings.EqualFold(r.group, job.ConsumerGroup)) {
			return nil, &ConflictError{Job: job, Message: fmt.Sprintf("partition %s has two positions stored under names that differ only in case "+
				"(an older ehstream kept them apart, and runs under both spellings wrote their results); decide which is right and delete the other row: "+
				"DELETE FROM %s WHERE job = '%s' AND namespace = '%s' AND eventhub = '%s' AND consumer_group = '%s' AND partition_id = '%s' (next %d)",
				r.partition, s.table, job.Name, r.namespace, r.hub, r.group, r.partition, r.next)}
		}
		if r.group != job.ConsumerGroup {
			return nil, &ConflictError{Job: job, Message: fmt.Sprintf("the job holds positions for consumer group %q of this hub; "+
				"reading with consumer group %q from the start would write the hub's events a second time. "+
				"Sequence numbers are the same in every consumer group: keep consumer group %q, or give the job another name (and output) to start over",
				r.group, job.ConsumerGroup, r.group)}
		}
		if err := outputConflict(job, r.output); err != nil {
			return nil, err
		}
		out[r.partition] = r.next
	}
	return out, nil
}

// PositionFilter selects stored positions (ListPositions); a zero field
// selects every value.
type PositionFilter struct {
	// Job is the job's name; "" selects every job.
	Job string
	// ConsumerGroup is the consumer group, whose case is ignored as Event
	// Hubs ignores it; "" selects every group.
	ConsumerGroup string
}

// ListPositions lists the stored positions filter selects (nil: all), of
// every namespace and hub, ordered by job (Job.String) and then by
// partition ID as eventhubs.ComparePartitionIDs orders them (2 before 10),
// as `ehstream offsets` shows them.
func (s *Store) ListPositions(ctx context.Context, filter *PositionFilter) ([]Position, error) {
	var f PositionFilter
	if filter != nil {
		f = *filter
	}
	all, err := s.Positions(ctx, Job{})
	if err != nil {
		return nil, err
	}
	ps := slices.DeleteFunc(all, func(p Position) bool {
		return (f.Job != "" && p.Job.Name != f.Job) || (f.ConsumerGroup != "" && !strings.EqualFold(p.Job.ConsumerGroup, f.ConsumerGroup))
	})
	slices.SortFunc(ps, func(a, b Position) int {
		if c := strings.Compare(a.Job.String(), b.Job.String()); c != 0 {
			return c
		}
		return eventhubs.ComparePartitionIDs(a.Partition, b.Partition)
	})
	return ps, nil
}

// Positions lists the job's stored positions by partition; with a zero Job
// it lists every job's.
func (s *Store) Positions(ctx context.Context, job Job) ([]Position, error) {
	query := `SELECT job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output FROM ` + s.table
	var args []any
	if job != (Job{}) {
		job = job.canonical()
		if err := job.validate(); err != nil {
			return nil, err
		}
		query += ` WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ?`
		args = []any{job.Name, job.Namespace, job.EventHub, job.ConsumerGroup}
	}
	query += ` ORDER BY job, namespace, eventhub, consumer_group, partition_id`
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("offsets: reading positions: %w", err)
	}
	defer rows.Close()
	var out []Position
	for rows.Next() {
		var p Position
		var ms int64
		var output sql.NullString
		if err := rows.Scan(&p.Job.Name, &p.Job.Namespace, &p.Job.EventHub, &p.Job.ConsumerGroup, &p.Partition, &p.Next, &ms, &output); err != nil {
			return nil, fmt.Errorf("offsets: reading positions: %w", err)
		}
		p.Job.Output = output.String
		p.Updated = time.UnixMilli(ms).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// StoredPositions reads the job's stored positions of some partitions, by
// partition; a partition without one is left out. It is what a direct
// stream reads a stale partition's position anew with
// (eventhubs.DirectStream.SetStoredPositions), and where a replica starts
// a partition it gains (eventhubs.OwnershipOptions.Positions).
func (s *Store) StoredPositions(job Job) func(ctx context.Context, partitionIDs []string) (map[string]int64, error) {
	return func(ctx context.Context, ids []string) (map[string]int64, error) {
		stored, err := s.Positions(ctx, job)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		for _, p := range stored {
			if slices.Contains(ids, p.Partition) {
				out[p.Partition] = p.Next
			}
		}
		return out, nil
	}
}
