// Package sqlsink writes a direct stream's batches into a SQL table
// (SQLite or PostgreSQL) exactly once: each batch's events and its
// positions (package offsets) in one transaction, by COPY into PostgreSQL
// and prepared multi-row INSERTs into SQLite. It is the output of
// `ehstream stream`, usable from any Go program:
//
//	sk, err := sqlsink.Open(ctx, "sqlite:events.db", "events")
//	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
//		return sk.WriteBatch(ctx, job, rdd)
//	})
//
// RetryBatch is a streaming.ContextOptions.Retry that retries a batch whose
// transaction failed for a passing reason (a locked or unreachable
// database).
package sqlsink
