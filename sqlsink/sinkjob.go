package sqlsink

import (
	"context"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// Resume readies the sink for job on conf's hub, as a stream's start
// does: it refuses an events table of another shape (CheckTable) before
// any position of the table is stored, resumes the job's positions
// (offsets.Store.Resume: conf then starts where the last committed batch
// ended), and only then creates the events table, so that a run refused
// for its positions leaves no empty table behind. Give the stream
// Resumed.Job from then on.
func (s *Sink) Resume(ctx context.Context, job offsets.Job, conf *eventhubs.Conf) (offsets.Resumed, error) {
	if err := s.CheckTable(ctx); err != nil {
		return offsets.Resumed{}, err
	}
	resumed, err := s.Store.Resume(ctx, job, conf)
	if err != nil {
		return offsets.Resumed{}, err
	}
	return resumed, s.CreateTable(ctx)
}

// Attach writes each batch of ds to the sink with its positions in one
// transaction (WriteBatch), and has ds plan a batch again from the stored
// positions when they moved under it (a killed run's late commit) rather
// than fail: the events table then holds every event of the hub once.
func (s *Sink) Attach(ds *eventhubs.DirectStream, job offsets.Job) {
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		return s.WriteBatch(ctx, job, rdd)
	})
	ds.SetStoredPositions(s.Store.StoredPositions(job))
}
