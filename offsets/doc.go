// Package offsets keeps a stream's position in your own database, in the
// same transaction as your results: the guide's "Your own data store".
//
//	store, err := offsets.Open(ctx, db, nil) // SQLite or PostgreSQL; creates its table
//	job, err := offsets.JobFor("orders-totals", ehConf)
//	resumed, err := store.Resume(ctx, job, ehConf) // ehConf starts where the last committed batch ended
//	job = resumed.Job
//	...
//	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
//		return store.CommitBatch(ctx, job, offsets.BatchOfRDD(rdd), func(ctx context.Context, tx *sql.Tx) error {
//			... write results with tx ...
//		})
//	})
//
// CommitBatch runs the output in a transaction with the batch's positions,
// and treats a batch that committed before, empty or not, as done: a
// replayed or retried batch's output is not written again, and the stream
// counts it done (streaming.AlreadyCommitted), with no replay logic in the
// program. An empty batch moves no position, so the batch's time is stored
// with the positions to know its replay (see CommitBatch). Typed streams
// give BatchOf(b) (streaming.ForeachBatch); a window's output too.
//
// Without CommitBatch, a transaction of your own commits the positions
// (replays of empty batches are then yours to tell):
//
//	tx, err := db.BeginTx(ctx, nil)
//	if err := store.CommitOffsets(ctx, tx, job, rdd.OffsetRanges()); err != nil {
//		tx.Rollback() // a repeated batch or a gap: nothing is written
//		return err
//	}
//	... write results with tx ...
//	return tx.Commit()
//
// CommitOffsets moves each partition's stored position from the batch's
// FromSeqNo to its UntilSeqNo only where the stored position equals
// FromSeqNo, so a batch is committed once and in order, whatever crashes,
// restarts or concurrent writers do: exactly-once results. Commit the
// offsets before the results, so that a batch another instance of the job
// committed already fails before its results collide; or, where writing
// the results takes long, check them first (CheckOffsets, which locks
// nothing) and commit them last, so that their rows are locked for the
// commit only and a writer paused meanwhile holds up no other.
//
// Namespace, hub and consumer group names are kept in lower case, as Event
// Hubs ignores their case. A Job's Output (a table, say) is remembered with
// its positions; positions are refused (*ConflictError) to a job with
// another output, or another consumer group of the same hub.
//
// A position keeps the creation time of the hub it was stored for
// (OffsetRange.HubCreatedOn): Resume knows the hub under any name of its
// namespace, and a hub deleted and created again, whose sequence numbers
// restarted, is data loss rather than a hub to continue. Resume also
// stores every partition's starting position when the job first starts,
// so that replicas claiming partitions later start where the job started.
//
// Lag says how far a job's stored positions are behind its hub, in events
// and in the age of the oldest unread event, without disturbing the job;
// PositionsLag says it of every job among positions listed, and IndexLags
// finds each listed position's. ListPositions lists the stored positions
// of the jobs asked for (PositionFilter), as `ehstream offsets` shows them.
//
// Files: store.go (Open, Job, the table), commit.go (CommitOffsets and its
// errors), check.go (CheckOffsets: what CommitOffsets would say, without
// locking), load.go (LoadPositions, Positions, ListPositions, StoredPositions), resume.go
// (Resume: hub identity, re-created hubs, starting positions), writer.go
// (one job per output), set.go (SetPosition, for checkpoint stores),
// migrate.go (tables of older versions, AddColumn), lag.go (Lag,
// PositionsLag, IndexLags), committed.go (a replayed batch that committed),
// batch.go (CommitBatch: a batch's output exactly once, empty batches
// included), state.go (PartitionState, WriteState: the state of stateful
// steps kept per partition, streaming.KeepStatePerPartition, in a table
// beside the positions).
package offsets
