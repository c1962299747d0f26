// Package streaming is the micro-batch engine: a Context cuts time into
// batches of a fixed interval and, for each, asks its inputs which ranges of
// which partitions to read, writes that plan to a checkpoint store, runs the
// outputs, and marks the batch done. Batches never overlap. After a crash
// the last planned but unfinished batch runs again with the same ranges.
//
// The engine knows its sources only through the Input interface; package
// eventhubs provides the Event Hubs input (CreateDirectStream).
//
// Lock order: Context.mu is never held while an input or listener runs.
package streaming
