// Package emulatorhttp serves a running emulator over HTTP: a status page
// of its hubs, partitions, consumer groups and readers, the same as JSON,
// Prometheus metrics, a health check and, when asked, the faults admin
// API. `ehstream emulator --http ADDR` serves it; an in-process emulator
// can too:
//
//	srv, err := emulator.Start(ctx, cfg)
//	...
//	http.ListenAndServe("127.0.0.1:5300", emulatorhttp.New(srv, emulatorhttp.Options{}))
//
// Package emulator counts and keeps snapshots without a metrics library
// (Server.Stats, Server.Snapshot); this package turns them into
// Prometheus metrics when scraped. The page's files are embedded and load
// nothing from elsewhere, so it works offline.
//
// Files:
//
//   - emulatorhttp.go: New (the handler: page, JSON, health, faults API),
//     CheckListen, and the JSON the page reads.
//   - metrics.go: the Prometheus collector (NewCollector, NewRegistry)
//     and the metrics' names.
//   - static/: the page (index.html, app.js, style.css, favicon.svg),
//     embedded.
package emulatorhttp
