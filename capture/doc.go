// Package capture writes a stream's events to files, exactly once: Avro in
// Event Hubs Capture's schema and path layout, or Parquet, into a
// directory or an Azure Blob Storage container.
//
// Avro is written with github.com/hamba/avro/v2 and its ocf package (the
// object container format), in the schema Capture's files carry.
//
// Files:
//   - format.go: Format and FileWriter, what a file format provides.
//   - formaterr.go: FormatError, the formats' errors, with stable codes.
//   - layout.go: FileName, Capture's path layout with the range of
//     sequence numbers a file holds.
//   - avro.go: Avro, Capture's schema (CaptureSchema) and its writer.
//   - properties.go: how AMQP property values become values of Capture's
//     map union or Parquet's string map.
package capture
