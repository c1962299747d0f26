package offsets

import (
	"context"
	"database/sql"
	"fmt"
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
	// Names in other case are rows Open could not move: two positions.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT namespace, eventhub, consumer_group, partition_id, next_seq, output FROM `+s.table+`
		WHERE job = ? AND lower(namespace) = ? AND lower(eventhub) = ? ORDER BY consumer_group, partition_id`), job.Name, job.Namespace, job.EventHub)
	if err != nil {
		return nil, fmt.Errorf("offsets: reading positions: %w", err)
	}
	defer rows.Close()
	out := map[string]eventhubs.EventPosition{}
	for rows.Next() {
		var namespace, hub, group, partition string
		var next int64
		var output sql.NullString
		if err := rows.Scan(&namespace, &hub, &group, &partition, &next, &output); err != nil {
			return nil, fmt.Errorf("offsets: reading positions: %w", err)
		}
		if namespace != job.Namespace || hub != job.EventHub || (group != job.ConsumerGroup && strings.EqualFold(group, job.ConsumerGroup)) {
			return nil, &ConflictError{Job: job, Message: fmt.Sprintf("partition %s has two positions stored under names that differ only in case "+
				"(an older ehstream kept them apart, and runs under both spellings wrote their results); decide which is right and delete the other row: "+
				"DELETE FROM %s WHERE job = '%s' AND namespace = '%s' AND eventhub = '%s' AND consumer_group = '%s' AND partition_id = '%s' (next %d)",
				partition, s.table, job.Name, namespace, hub, group, partition, next)}
		}
		if group != job.ConsumerGroup {
			return nil, &ConflictError{Job: job, Message: fmt.Sprintf("the job holds positions for consumer group %q of this hub; "+
				"reading with consumer group %q from the start would write the hub's events a second time. "+
				"Sequence numbers are the same in every consumer group: keep consumer group %q, or give the job another name (and output) to start over",
				group, job.ConsumerGroup, group)}
		}
		if err := outputConflict(job, output); err != nil {
			return nil, err
		}
		out[partition] = eventhubs.FromSequenceNumber(next, true)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offsets: reading positions: %w", err)
	}
	if err := s.writerConflict(ctx, s.db, job, ""); err != nil {
		return nil, err
	}
	return out, nil
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
