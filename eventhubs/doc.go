// Package eventhubs is the Go shape of the Spark Streaming + Event Hubs
// connector: a Conf, EventPositions, OffsetRanges of sequence numbers, and
// bounded reads of any set of ranges (CreateRDD), one goroutine per range.
//
// It wraps the official SDK (azeventhubs/v2) and hides AMQP. Connections are
// pooled per namespace, hub and consumer group and shared by all partitions;
// a partition's receiver stays open between reads and is reused when the
// next read starts where the last one ended, so consecutive ranges cost no
// new link. CloseAll releases the pool.
//
// A direct stream reads its partitions exclusively (owner level 0); ad-hoc
// reads (CreateRDD) do not, so that they never take a partition from a
// running job: see Conf.Exclusive.
//
// # Files
//
// What a user configures and gets:
//   - conf.go: Conf, its setters and getters, and what goes over the
//     settings table: NewConf, NewConfForHub (a connection string's
//     sibling hub), NewConfWithCredential (Microsoft Entra ID, or any
//     azcore.TokenCredential), Clone, Validate, String, ToMap,
//     ConfFromMap; the namespace a Conf reads (FullyQualifiedNamespace,
//     NamespaceHost).
//   - settings.go: the settings table, a row per setting (its key in the
//     map form, default, format, parse and check), and the checks and
//     parsers of values that the rows share.
//   - connstr.go: connection strings: parsing, checks, redaction.
//   - clientoptions.go: the SDK clients a Conf makes and their options:
//     SetClientOptions (the SDK's options passed through, merged with the
//     pool's retries), SetTLSRootCAs (a CA to trust, from PEM),
//     NewProducerClient, and the SDK consumer clients of the pool, signed
//     in with the connection string or the credential
//     (NewConfWithCredential, in conf.go).
//   - position.go: EventPosition, where a read starts, and its text form.
//   - offsetrange.go: OffsetRange, a range of sequence numbers of one
//     partition, and its text form.
//   - event.go: Event, one event as read.
//   - eventtime.go: EnqueuedTime, an event's default event time for
//     streaming's event-time windows.
//   - partitionid.go: ComparePartitionIDs, the order of partition IDs.
//   - errors.go: Error and its stable codes.
//
// Connections and reads:
//   - clientoptions.go: the SDK's client options, built in one place
//     (clientOptions), and NewProducerClient, a producer with them.
//   - connect.go: the connections, made here and handed to the SDK through
//     its connection hook, so that one that cannot be made (refused, no
//     such host, an untrusted certificate) fails at once with
//     CodeCannotConnect and its cause, while a dropped one is retried.
//   - websocket.go: AMQP over WebSockets (SetWebSockets), through the
//     proxy the environment names.
//   - pool.go: the pool of connections (client), each partition's
//     receiver on one, and the janitor that closes idle ones; CloseAll.
//   - mgmt.go: the SDK client that properties are asked on, kept off the
//     receivers' connection and made anew when its connection is lost.
//   - hub.go: the hub's and partitions' properties (DescribeHub,
//     PartitionBounds), and the retry loop of management calls, which
//     logs each failed attempt (logRetry), as the reads' retries do.
//   - rangecheck.go: CheckRanges, the ranges a hub cannot serve
//     (RangeProblems), named as a caller typed them; CheckPartitions, the
//     partition IDs it lacks (UnknownPartitions); RangesHeld, every event
//     of some partitions.
//   - read.go: reading one range (readRange, rangeReader), the fetcher
//     that asks a chunk ahead of the reader, and which errors are
//     permanent.
//   - hold.go: taking or checking a partition's link without handing out
//     an event (hold): when a stream starts, and for partitions it has
//     nothing to read from.
//   - readahead.go: the read-ahead (SetReadAhead, SetReadAheadTotal,
//     SetHubRefreshInterval): a stream's partition link lent between
//     reads to a goroutine that keeps receiving into a bounded buffer,
//     and what it received (arrived) for the planner.
//   - rdd.go: RDD: CreateRDD, ForeachPartition and Collect, one task per
//     range.
//   - resolve.go: one position to a sequence number, by the bounds or by
//     asking the service; checking the consumer group.
//   - resolvepositions.go: ResolvePositions, OffsetRangesBetween, and
//     resolving many positions at once.
//   - lag.go: Lag, how far positions are behind the hub.
//
// Direct streams:
//   - stream.go: DirectStream, the streaming.Input: Start, Plan (a range
//     per partition), Run (the RDD to each output), Stop.
//   - arrived.go: the bounds Plan plans from: asked of the service, or,
//     with read-ahead, what the partitions' read-aheads received, the
//     hub's properties read again every HubRefreshInterval.
//   - assign.go: the assignment seam, which partitions a stream reads and
//     how it comes by them and gives them up; allPartitions, a stream that
//     reads every partition.
//   - share.go: sharing, the assignment of one of several replicas that
//     divide the partitions through an ownership store (SetOwnershipStore),
//     and CheckOwnershipJob, the refusal of another job's consumer group
//     before a job stores anything.
//   - rounds.go: a replica's ownership rounds, in the background, and what
//     they found for the stream's next plan.
//   - jobwatch.go: WatchJob, a view of the whole job (JobView) every few
//     seconds while the stream runs: every partition's owner, position,
//     bounds and oldest unread event, for a status page.
//   - backpressure.go: SetBackpressure: the rate controller that sizes the
//     next batch by how fast batches finish.
//   - dstream.go: Events, a direct stream as a typed streaming.DStream.
//
// # Lock order
//
// A DirectStream, and its assignment, belong to the goroutine that runs
// the stream (Claim, Start, Plan, Run, Stop): what they share with other
// goroutines is behind the locks below.
//
//   - pool.mu guards the pool's clients and whether its janitor runs.
//   - client.mu guards a client's receivers, users, lastUsed, closed and
//     mgmt. It may be taken while pool.mu is held (get, sweep), never the
//     other way.
//   - receiver.slot, a channel of one, is a partition's one reader: its
//     holder (acquire to put) owns the receiver's link, position and
//     pending events, and lends the link to its fetcher until the
//     fetcher's stop returns. The receiver's methods in read.go and hold.go,
//     and closeLink, are called by the holder. A slot is waited for with
//     neither mutex held (acquire); sweep, under both, and closeReceiver
//     only try it. So a holder may take either mutex, as an output's code
//     does, which runs while its read holds the slot.
//   - receiver.ahead holds the read-ahead the link is lent to between
//     reads (readahead.go); the holder of the slot lends it (lend) and
//     takes it back (acquire, closeLink: stopAhead) before it touches the
//     link. readAhead.mu guards its buffer and error; its goroutine and
//     the planner (arrived) take it. Nothing is taken under it.
//   - rounds.mu guards what a replica's ownership rounds found; the rounds'
//     goroutine, the stream's and a watch's take it. Nothing is taken
//     under it.
//   - DirectStream.ranMu guards the positions published for a watch
//     (publish); jobWatch.mu the first events the stream's reads handed
//     out (noteRead), which read tasks note. Nothing is taken under
//     either.
//   - rateController.mu guards the rate estimator and the last batch the
//     stream ran; the stream's goroutine and the Context's listener take it.
//     Nothing is taken under it.
//   - RDD.mu guards the last read's skipped events per range. Nothing is
//     taken under it. The read tasks count skipped events in an atomic and
//     store the offsets handed out (last) in a sync.Map.
//
// No function needs a mutex held by its caller, so none is named
// …Locked.
package eventhubs
