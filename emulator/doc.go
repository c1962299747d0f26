// Package emulator is a local Event Hubs: it speaks the AMQP 1.0 dialect of
// Azure Event Hubs, so the official SDKs connect to it with a connection
// string ending in UseDevelopmentEmulator=true.
//
// Files:
//
//   - server.go: Server: Start, Close, the accept loop, Stats, retention,
//     the connection strings for clients (PrintableConnectionString: the
//     key as KeyPlaceholder).
//   - config.go: Config, its defaults and limits, and Microsoft's
//     emulator Config.json (LoadConfigFile).
//   - transport.go, websocket.go, selfsigned.go: AMQP over TLS and over
//     WebSockets beside plain TCP, every listener's connections
//     registered (and refused past MaxConnections), and the certificates
//     for TLS (SelfSignedTLS; UseTLSFiles for a certificate of one's own).
//   - conn.go: one connection: handshake, SASL, the frame loop, writes,
//     heartbeats, shutdown.
//   - session.go: sessions: windows, attach and detach of links.
//   - links.go, flow.go: what links share: the sending side's flow state
//     (flow.go models AMQP 1.0's rules for it) and detach, the receiving
//     side's deliveries and settlement.
//   - producer.go: links that send events: credit, and deliveries stored
//     in the partition logs.
//   - consumer.go: links that receive events from a partition, and owner
//     levels (epochs); readerlimit.go: the readers a group may have
//     without one.
//   - filter.go: where a receiver starts (the selector filter).
//   - lastenqueued.go: last-enqueued event properties on the deliveries of
//     receivers that ask for them.
//   - budget.go: the budget of bytes in flight that producer credit is
//     granted from.
//   - rpc.go: $cbs and $management, their request and reply links.
//   - auth.go, tokenexpiry.go: SAS policies and tokens (put-token, checks
//     on attach and $management reads); links detached when their tokens
//     expire. jwt.go: Microsoft Entra ID's JWT bearer tokens, checked
//     against the keys of a JWKS (JWTKeys), and the roles that give their
//     principals rights (JWTRoles).
//   - hosts.go, httpguard.go: the names the emulator answers to; HTTP
//     requests refused as other web sites' and DNS rebinding's.
//   - hub.go: hubs and partitions: their logs, consumer groups, routing.
//   - errors.go: the AMQP error conditions the official clients act on.
//   - faults.go: faults on demand as one mechanism (match, budget, action):
//     injecting and ending them, their statistics, and the hooks the
//     handlers consult; faults_kinds.go: the kinds, one table entry each,
//     and their actions; faults_json.go: faults as JSON (ParseFaults,
//     LoadFaultsFile); faults_http.go: the admin API (FaultsHandler).
//   - kafkaendpoint.go: the Kafka endpoint (package emulator/kafka) on
//     Config.KafkaListen and, over TLS, Config.KafkaTLSListen, lent the
//     hubs' partition logs, their limits and their counters (Kafka
//     produces and fetches count as AMQP ones); its consumer groups'
//     offsets kept under DataDir's KafkaGroupsDir; kafkaauth.go: its SASL
//     PLAIN connection strings checked against the SAS policies.
//   - metrics.go, snapshot.go: the counters behind Stats, and the view
//     Snapshot gives.
//
// Package emulator/amqp is the wire format, emulator/kafka the Kafka
// protocol endpoint, emulator/partlog a partition's log on disk, and
// emulator/emulatorhttp serves Stats and Snapshot as a status page and
// Prometheus metrics.
//
// # Locks
//
// conn.wmu guards everything a connection writes: the socket, and the
// outgoing state of its sessions and links (the …Locked methods of conn,
// session and the links need it). A write under it waits on the client at
// most the write timeout (closeGrace once the connection shuts down).
//
// The order is short: conn.wmu, then byteBudget.mu (a producer link
// waiting for bytes registers under wmu). Every other lock is a leaf,
// under which no other is taken:
//
//   - Server.mu: the connection set.
//   - partition.mu: a partition's readers. It is never held while taking a
//     conn.wmu: a takeover, or a detach-receivers fault, only marks the old
//     reader (consumer.steal), whose own goroutine sends the detach.
//   - connAuth.mu: a connection's tokens and the links they keep; an
//     expired link is detached after it is released.
//   - byteBudget.mu: the links waiting for bytes, woken without blocking.
//   - faultSet.mu: the faults; the hooks on the hot paths read an
//     immutable view instead.
//   - rareLog.mu: when a recurring event was last logged.
//
// None of these is held while calling package partlog, whose locks have
// their own order; the callbacks it runs under them (Append's build,
// OnSync) take none.
package emulator
