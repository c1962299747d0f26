// Package offsets keeps a stream's position in your own database, in the
// same transaction as your results: the guide's "Your own data store".
//
//	store, err := offsets.Open(ctx, db, nil) // SQLite or PostgreSQL; creates its table
//	job, err := offsets.JobFor("orders-totals", ehConf)
//	positions, err := store.LoadPositions(ctx, job) // where the last committed batch ended
//	ehConf.SetStartingPositions(positions)
//	...
//	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
//		tx, err := db.BeginTx(ctx, nil)
//		if err := store.CommitOffsets(ctx, tx, job, rdd.OffsetRanges()); err != nil {
//			tx.Rollback() // a repeated batch or a gap: nothing is written
//			return err
//		}
//		... write results with tx ...
//		return tx.Commit()
//	})
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
// Lag says how far a job's stored positions are behind its hub, in events
// and in the age of the oldest unread event, without disturbing the job.
package offsets
