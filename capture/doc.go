// Package capture writes a stream's events to files, exactly once: Avro in
// Event Hubs Capture's schema and path layout, or Parquet, into a
// directory or an Azure Blob Storage container.
//
// Files:
//   - format.go: Format and FileWriter, what a file format provides.
//   - layout.go: FileName, Capture's path layout with the range of
//     sequence numbers a file holds.
//   - destination.go: Destination and PendingFile, where files go and how
//     they become visible; finding a partition's last file.
//   - dir.go: Dir, the Destination of a directory (_tmp, fsync, rename),
//     and localFile, a file growing on local disk.
//   - blob.go: Blob, the Destination of a Blob Storage container (a local
//     spool, then blocks staged and the block list committed).
//   - sink.go: Sink, its options, Attach (what it refuses: a checkpoint,
//     replicas), WriteBatch and Close.
//   - partition.go: one partition's writer: its open file, rolling by size
//     and age, gaps and restarted numbering, and staleError, which makes
//     the stream read a partition again from its files' end.
//   - resume.go: Resume, where each partition goes on from: the end of its
//     last visible file, after removing a crashed run's leftovers.
//   - spec.go: OpenDestination and RedactSpec, a destination from a
//     one-line spec (file:DIR, blob:...), as --sink gives it.
//   - check.go: CheckFiles, a hub's files, their ranges, gaps and overlaps.
package capture
