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
// database); RetryStart tries a start's step (connecting) alike, so that
// a job started while its database is down waits for it. CheckTable
// refuses an existing events table of another shape at the start, not at
// the first batch.
//
// Resume readies a sink for a job at its start (the table's shape, the
// job's positions, then the table), and Attach writes a DirectStream's
// batches to it, as `ehstream stream` runs them.
//
// Files: sink.go (Sink: Open, Parse, Connect, WriteBatch and its
// transaction), sinkjob.go (Resume, Attach), sinktable.go (the events table: its columns, CreateTable,
// CheckTable), sinkcopy.go (COPY into PostgreSQL), sinkidle.go (the bound
// on a batch transaction left idle), sinkjson.go (properties as JSON),
// sinkread.go (opening a sink to read only), sinkretry.go (RetryBatch,
// RetryStart and Transient), sinkwal.go (SQLite's WAL checkpointed in the
// background).
package sqlsink
