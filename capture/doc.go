// Package capture writes a stream's events to files, exactly once: Avro in
// Event Hubs Capture's schema and path layout, or Parquet, into a
// directory or an Azure Blob Storage container.
//
// Avro is written with github.com/hamba/avro/v2 and its ocf package (the
// object container format), in the schema Capture's files carry.
// Parquet is written with github.com/parquet-go/parquet-go rather than
// Apache Arrow's Go Parquet: it is pure Go (no cgo, as the whole module),
// brings far fewer dependencies than Arrow's module, and writes rows one
// at a time into column buffers, which is how events arrive; Arrow's
// writer wants Arrow record batches built first.
//
// Files:
//   - format.go: Format and FileWriter, what a file format provides.
//   - formaterr.go: FormatError, the formats' errors, with stable codes.
//   - layout.go: FileName, Capture's path layout with the range of
//     sequence numbers a file holds.
//   - avro.go: Avro, Capture's schema (CaptureSchema) and its writer.
//   - properties.go: how AMQP property values become values of Capture's
//     map union or Parquet's string map.
//   - parquet.go: Parquet, its fixed columns, options and writer.
//   - pagezstd.go: the zstd codec of Parquet's pages: one encoder shared
//     by the format's files, with a window the size of a page.
//   - parquetrow.go: how an event's row is filled, leaf column by leaf
//     column, levels and all.
//   - columns.go: ParseColumns, the --columns spec of columns taken from
//     a JSON body, and how a column's value is found in a body.
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
//     last visible file, else its start marker, after removing a crashed
//     run's leftovers.
//   - start.go: start markers ({PartitionId}/_start/from-{SequenceNumber}),
//     the start a partition's conf position resolved to, recorded before
//     its first file, so that a restart before a file goes on from it.
//   - spec.go: OpenDestination and RedactSpec, a destination from a
//     one-line spec (file:DIR, blob:...), as --sink gives it.
//   - check.go: CheckFiles, a hub's files, their ranges, gaps and overlaps.
package capture
