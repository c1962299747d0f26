// Package durable writes files that survive a crash whole or not at all:
// WriteFile replaces a file by a temporary one, synced, renamed over it,
// with the directory synced; SyncDir makes a rename in a directory
// durable; MkdirAll creates directories so that a crash keeps them. The
// checkpoint store (package streaming), the file outputs (package
// capture) and the emulator's Kafka group offsets write through it.
//
// Files: durable.go.
package durable
