package offsets

import (
	"context"
	"fmt"
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
// the offsets committed to the database". Partitions never committed are
// absent, so they start at the conf's StartingPosition.
func (s *Store) LoadPositions(ctx context.Context, job Job) (map[string]eventhubs.EventPosition, error) {
	ps, err := s.Positions(ctx, job)
	if err != nil {
		return nil, err
	}
	out := make(map[string]eventhubs.EventPosition, len(ps))
	for _, p := range ps {
		out[p.Partition] = eventhubs.FromSequenceNumber(p.Next, true)
	}
	return out, nil
}

// Positions lists the job's stored positions by partition; with a zero Job
// it lists every job's.
func (s *Store) Positions(ctx context.Context, job Job) ([]Position, error) {
	query := `SELECT job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms FROM ` + s.table
	var args []any
	if job != (Job{}) {
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
		if err := rows.Scan(&p.Job.Name, &p.Job.Namespace, &p.Job.EventHub, &p.Job.ConsumerGroup, &p.Partition, &p.Next, &ms); err != nil {
			return nil, fmt.Errorf("offsets: reading positions: %w", err)
		}
		p.Updated = time.UnixMilli(ms).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}
