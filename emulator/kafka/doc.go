// Package kafka is the emulator's Kafka endpoint: Kafka clients produce to
// and fetch from the same partition logs that AMQP clients use, as they do
// against Event Hubs. A hub is a topic with the same partitions, and a
// Kafka offset is the event's sequence number.
//
// The wire format is github.com/twmb/franz-go/pkg/kmsg's; this package
// frames requests, dispatches them by API key, and maps records to the
// AMQP messages the logs store, the way the service maps them (records.go).
//
// Files:
//
//   - server.go: Server: Serve, Close, the accept loop, Backend (the logs
//     the emulator lends it).
//   - conn.go: one connection: frames, request headers, responses, in
//     order.
//   - dispatch.go: the API keys and versions served (ApiVersions), and the
//     answer to the others.
//   - metadata.go: Metadata: this one broker and the hubs as topics.
//   - produce.go: Produce: record batches v2 appended to the logs, each
//     record within the hub's largest event.
//   - compression.go: the codecs a produced batch may use (none, gzip, as
//     the service), and the bound on what a batch decompresses to.
//   - fetch.go: Fetch (max wait, min bytes) and ListOffsets.
//   - records.go: Kafka records ↔ stored AMQP messages.
//   - stats.go: the endpoint's counters (Stats): connections, requests
//     by API key, bytes.
//   - faults.go: where the emulator's faults reach Kafka clients (through
//     Backend's Throttled and WriteDelay, and Conns): produces held while
//     throttled, responses delayed, connections reset.
//
// Locks: none of its own beyond Server.mu (the connection set, a leaf);
// partlog's are taken only inside its calls.
package kafka
