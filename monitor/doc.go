// Package monitor shows a running stream to people and to scrapers: a
// status page modelled on Spark's Streaming tab, JSON endpoints, Prometheus
// metrics and health checks, all from one streaming listener.
//
// A Monitor hears every batch of a streaming.Context (completed, failed,
// abandoned), keeps the last batches in a bounded history and feeds
// Prometheus collectors in a registry of its own, so that several streams
// in one process do not collide. It is an http.Handler:
//
//	m := monitor.New(ssc, &monitor.Options{Job: "archive", Hub: "orders"})
//	go http.ListenAndServe("127.0.0.1:4040", m)
//
// Paths: / (the page, its assets embedded), /api/status, /api/batches,
// /api/partitions, /metrics, /healthz and /readyz.
//
// The package knows streams only through package streaming; whoever wires
// it tells it the names it shows (Options) and, when replicas share a
// consumer group, the partitions this one gains and loses
// (OwnershipChanged, for eventhubs.OwnershipOptions.OnChange). Given views
// of the whole job (JobObserved, for eventhubs.DirectStream.WatchJob), it
// shows every partition of the hub, whichever replica reads it: owner, or
// since when it has no live owner, position, hub end, lag in events and
// the age of the oldest unread event, with a banner for partitions no
// replica took over within the claims' expiration.
//
// Progress is the same stream said in lines, for a terminal or a log, as
// `ehstream stream` prints it: a line for each batch that read events, and
// one line now and then while the batches read nothing.
//
// Files: monitor.go (Monitor, the listener and its options), records.go
// (Batch, Partition, Status: the records of batches and partitions it
// keeps and the endpoints serve), job.go (JobObserved: the whole job's
// view, and a partition's record merged from batches and views),
// history.go (the bounded history), metrics.go (the Prometheus
// collectors), partmetrics.go (the partitions' gauges, made at each
// scrape), http.go (the handler: page, JSON, metrics), ready.go (health
// and readiness), progress.go (Progress), bar.go (Bar: a
// bounded read's progress bar, for a terminal), listen.go (Listen: the next
// free port when one is taken), server.go (Server: a port taken first,
// the monitor served on it later); assets/ holds the page's script and
// uPlot.
package monitor
