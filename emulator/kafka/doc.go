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
//   - groups.go: Groups, the consumer group coordinator: groups, members,
//     the rebalance state machine (Empty → PreparingRebalance →
//     CompletingRebalance → Stable), rebalance and session timers.
//   - grouprequests.go: JoinGroup, SyncGroup, Heartbeat, LeaveGroup on the
//     state machine.
//   - groupadmin.go: OffsetCommit/OffsetFetch checks, DescribeGroups,
//     ListGroups, DeleteGroups.
//   - groupoffsets.go: committed offsets, in memory or one file per group
//     in a directory (Config.DataDir's .kafka-groups) so that they survive
//     a restart.
//   - groupapi.go: the coordinator's requests on a connection
//     (FindCoordinator, the waits of JoinGroup and SyncGroup) and their
//     handlers.
//   - producerid.go: the idempotent producer: InitProducerId, and the
//     per-partition sequence checks of Produce (a retried batch answers
//     its first offset, a gap OUT_OF_ORDER_SEQUENCE_NUMBER).
//   - sasl.go: SASL PLAIN (handshake v0–v1, authenticate v0–v2), checked
//     by Options.Authenticate; Access, the rights each request needs
//     (TOPIC_AUTHORIZATION_FAILED without them), and the refusal of
//     requests before authentication.
//   - stats.go: the endpoint's counters (Stats): connections, requests
//     by API key, bytes.
//   - faults.go: where the emulator's faults reach Kafka clients (through
//     Backend's Throttled and WriteDelay, and Conns): produces held while
//     throttled, responses delayed, connections reset.
//
// Kafka consumer groups are the endpoint's own, as in the service: created
// on first use, unrelated to a hub's Event Hubs consumer groups (a Kafka
// group named like one shares nothing with it).
//
// Locks: Server.mu (the connection set, a leaf); Groups.mu (all groups),
// then offsetStore.mu inside it; producers.mu, then a sequenceState's
// lock held across its partition's append; partlog's are taken only inside its calls.
package kafka
