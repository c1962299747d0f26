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
// # Files
//
//   - context.go: Context, its options, Run and Stop; the resume (take
//     over the store and the sources, load the checkpoint) and the batch
//     clock.
//   - batch.go: one batch, as runBatch's steps on a runningBatch: plan,
//     checkpoint the plan, run the outputs with retries, commit state,
//     mark done, tell the listeners.
//   - runstate.go: RunState, where a Context stands in its life.
//   - signal.go: RunUntilSignal, signals as graceful stops.
//   - input.go: the Input interface and what passes through it: Range,
//     Identity, Plan, Batch, Result, ErrReplan.
//   - outputs.go: Batch.RunOutput, which outputs a batch's attempts
//     completed, so that a retry runs only the others, and how long each
//     ran (BatchInfo.Outputs).
//   - committed.go: AlreadyCommitted, an output's error that says the
//     batch had committed before.
//   - listener.go: the records listeners hear (BatchInfo, OutputTime,
//     BatchFailure), the listener interfaces, a batch's log record
//     (LogBatch), and how the Context tells them.
//   - batchreport.go: BatchReporter, which reports batches that read
//     events and condenses empty ones to a report every IdleEvery; the
//     default batch log (NewBatchLog) is one.
//   - checkpoint.go: Checkpoint, CheckpointStore, and matching a loaded
//     checkpoint to the inputs.
//   - fence.go: FencedStore and FencedError: one running instance of a job
//     at a time; the takeover and the save on an instance's behalf.
//   - lease.go: the lease of the batch in flight in a fenced store, its
//     renewal, and CheckFence.
//   - dirstore.go, dirstore_fence.go, dirstore_state.go: DirStore, the
//     checkpoint in a directory, its fence (a writer file under a file
//     lock) and its state files.
//   - dstream.go: DStream, its pipeline (graph) per input, Source, the
//     narrow steps, ForeachBatch, and the batch as a pipeline sees it.
//   - pair.go: KV and the keyed steps: combine within partitions, then
//     merge across them by key hash.
//   - ops.go: the steps Spark's DStream has beside those above: MapValues,
//     CombineByKey, Count, Reduce, CountByValue, Union (of streams of one
//     input), Transform, Print, and Cache (a batch read once for all its
//     uses).
//   - join.go: Cogroup, Join and the outer joins of two streams of one
//     input, with Pair and Optional.
//   - window.go: windows (Window, ReduceByKeyAndWindow, CountByWindow),
//     counted in batches; eventtime.go has windows of the items' own time.
//   - windowops.go: the window steps made of window.go's:
//     ReduceByWindow, CountByValueAndWindow, GroupByKeyAndWindow, and
//     ReduceByKeyAndWindowWith (its WindowOptions' Filter).
//   - eventtime.go: event-time windows: EventTimeWindow (length, slide,
//     allowed lateness, OutputMode UpdateMode or AppendMode), the results
//     (WindowedKV, Windowed, TimeWindow), Watermark and EventTimeStats, and
//     ReduceByKeyAndEventTimeWindow, ReduceByEventTimeWindow,
//     CountByEventTimeWindow, whose EventTimeWindowed gives the windows, the
//     late items (a side output) and the stats.
//   - eventtimestate.go: the event-time window's stateful step: items to
//     their windows against the watermark of the batch before, the
//     aggregates per (window, key) by key hash, the watermark moved on after
//     the batch, windows it closes emitted (append) and dropped; the
//     aggregates and the watermark checkpointed as a whole or as a batch's
//     changes.
//   - state.go: MapWithState and the keyed State it hands to its function.
//   - updatestate.go: UpdateStateByKey (MapWithState's state, called for
//     every key each batch) and StateSnapshots of a MapWithState stream.
//   - partitionstate.go: KeepStatePerPartition: the state of MapWithState
//     and event-time windows kept per partition of the input in a
//     PartitionStateStore (package offsets), a step per partition loaded
//     when its range does not start where its state stands;
//     BatchData.StateRecords, the records a batch's output stores with
//     its positions; StaleStateError.
//   - statecheckpoint.go: StateStore and StateCheckpoint: the state of
//     stateful streams saved with a batch's done-mark and restored before
//     a replay.
//   - rate.go: PIDRateEstimator, the rate backpressure allows.
//
// Package streaming/parallel runs a batch's per-partition tasks at once;
// the engine and its inputs (eventhubs) share it.
//
// # Locks
//
// Context.mu guards what other goroutines reach of a Context (its inputs,
// listeners, store and pipelines before Run, whether it runs or stops, the
// running batch's cancel, Run's result); it is never held while an input,
// output or listener runs, nor while a store is written. What a batch carries
// from one to the next (the positions seen, the pipelines' state, the
// state checkpoint) is owned by the goroutine in Run and takes no lock.
// lease.mu is held while the lease is renewed, across the store's SaveAs
// (a DirStore takes its file lock under it); Batch's outputs.mu only
// around its own maps. No two of these locks are ever held at once.
package streaming
