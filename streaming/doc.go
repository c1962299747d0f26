// Package streaming is the micro-batch engine: a Context cuts time into
// batches of a fixed interval and, for each, asks its inputs which ranges of
// which partitions to read, writes that plan to a checkpoint store, runs the
// outputs, and marks the batch done. Batches never overlap. After a crash
// the last planned but unfinished batch runs again with the same ranges.
//
// The engine knows its sources only through the Input interface; package
// eventhubs provides the Event Hubs input (CreateDirectStream).
//
// What an output's effects amount to when instances of a job change
// hands, a newer one started on the checkpoint of an older one (which a
// fenced store, DirStore, makes wait for the older one's batch in flight,
// or for its lease):
//
//   - An output that commits its positions with its results, in one
//     transaction (package offsets), is exactly once: a batch commits once,
//     whoever runs it.
//   - An at-least-once output that calls CheckFence right before each
//     effect it cannot take back, and returns its error, is not processed
//     by both instances, except where its process stops between the check
//     and the effect for longer than the batch lease.
//   - An output that does neither can be processed by both, when its
//     instance is paused (SIGSTOP, a frozen VM, swapping) in the middle of
//     it for longer than the lease, and resumes while the newer instance
//     runs the batch again. Honouring the batch's context stops it at the
//     first refused renewal, not before.
//
// Lock order: Context.mu is never held while an input or listener runs.
package streaming
