// Package capture writes a stream's events to files, exactly once: Avro in
// Event Hubs Capture's schema and path layout, or Parquet, into a
// directory or an Azure Blob Storage container.
//
// Files:
//   - format.go: Format and FileWriter, what a file format provides.
//   - layout.go: FileName, Capture's path layout with the range of
//     sequence numbers a file holds.
package capture
