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
//   - parquetrow.go: how an event's row is filled, leaf column by leaf
//     column, levels and all.
//   - columns.go: ParseColumns, the --columns spec of columns taken from
//     a JSON body, and how a column's value is found in a body.
package capture
