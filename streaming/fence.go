package streaming

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// FencedStore is a CheckpointStore that lets one running instance of a job
// start batches at a time, so that a newer instance takes over from an
// older one between batches. A Context given one takes over in three
// steps: it fences the store (the older instance's next plan is refused,
// and it stops), waits for the older one's batch in flight to finish (or
// its lease to run out, when that instance died or was paused), and only
// then takes the sources and reads the checkpoint. The batch in flight
// thus finishes undisturbed, and the newer instance starts after it.
//
// A lease that ran out is the one way two instances get the same batch:
// the older instance, paused past its lease inside its output, resumes
// while the newer one runs the batch again. Its output learns that the
// batch is no longer its own from CheckFence, and from the batch's context,
// cancelled once a renewal of the lease is refused; an output that heeds
// neither processes the batch twice.
//
// DirStore is a FencedStore.
type FencedStore interface {
	CheckpointStore
	// Fence makes instance the store's writer: from now on SaveAs refuses
	// the plans of every other instance.
	Fence(ctx context.Context, instance string) error
	// SaveAs is Save on behalf of instance. When another instance has
	// fenced the store since, it refuses with a *FencedError, except a
	// checkpoint of instance's own unfinished batch (the stored one has
	// the same batch number and instance) while its lease lasts: the
	// batch in flight may still renew its lease, be marked done, or be
	// given up. Once the lease ran out, the other instance may be running
	// the batch.
	SaveAs(ctx context.Context, instance string, c *Checkpoint) error
}

// FencedError is a checkpoint refused because another instance of the job
// took ownership of the checkpoint store: this instance must stop. A
// second program started on a job's checkpoint takes it over, by design
// (a restarted job must not wait for a hung one); the one it replaces
// gets this error, naming both. CheckFence returns one too when this
// instance's batch in flight lost its lease and could not renew it
// (LeaseEnded is set): another instance may run the batch.
type FencedError struct {
	Instance string    // this instance
	Writer   string    // the instance that fenced the store; "" when unknown
	Store    string    // the checkpoint both use: a DirStore's directory
	Since    time.Time // when Writer fenced it; zero when unknown
	// Batch is this instance's batch in flight that another may run, when
	// there is one.
	Batch int64
	// LeaseEnded is when the batch's lease ran out, when that is why this
	// instance no longer holds it; Err is the store's error that kept the
	// lease from being renewed.
	LeaseEnded time.Time
	Err        error
}

func (e *FencedError) Error() string {
	if e.Writer == "" && !e.LeaseEnded.IsZero() {
		return fmt.Sprintf("streaming: the lease of batch %d of this instance, %s, ran out at %s (the process was paused, or the checkpoint store out of reach, longer than the batch lease) and cannot be renewed (%v): another instance of the job may run the batch; this instance stops",
			e.Batch, describeInstance(e.Instance), e.LeaseEnded.Local().Format("15:04:05.000"), e.Err)
	}
	where := "the checkpoint store"
	if e.Store != "" {
		where = "checkpoint " + e.Store
	}
	since := ""
	if !e.Since.IsZero() {
		since = " at " + e.Since.Local().Format("15:04:05.000")
	}
	return fmt.Sprintf("streaming: another instance of the job, %s, took ownership of %s%s; this instance, %s, stops and leaves its partitions to it",
		describeInstance(e.Writer), where, since, describeInstance(e.Instance))
}

func (e *FencedError) Unwrap() error { return e.Err }

// describeInstance says which process an instance ID (newInstanceID) is,
// for an operator to find it.
func describeInstance(id string) string {
	parts := strings.Split(id, "-")
	if len(parts) < 3 {
		return strconv.Quote(id)
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		return strconv.Quote(id)
	}
	return fmt.Sprintf("process %d on %s (instance %s)", pid, strings.Join(parts[:len(parts)-2], "-"), id)
}

// DefaultBatchLease is how long a newer instance waits for a batch whose
// instance stopped renewing it (it died): the batch in flight renews its
// lease every third of it.
const DefaultBatchLease = 5 * time.Second

// newInstanceID names a running Context in checkpoints and logs: the host
// and process, which an operator can find, and a random part, which two
// Contexts of one process do not share.
func newInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// takeOver fences store and waits until no other instance's batch is in
// flight: the stored checkpoint is done, is this instance's, or its lease
// ran out.
func (c *Context) takeOver(ctx context.Context, store FencedStore) error {
	if err := store.Fence(ctx, c.instance); err != nil {
		return fmt.Errorf("streaming: taking ownership of the checkpoint store: %w", err)
	}
	var logged time.Time
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		ck, err := store.Load(ctx)
		if err != nil {
			return err
		}
		if ck == nil || ck.Done || ck.Instance == "" || ck.Instance == c.instance || !time.Now().Before(ck.Lease) {
			return nil
		}
		if time.Since(logged) >= 10*time.Second {
			c.log.Info("streaming: waiting for another instance of the job to finish its batch before taking over",
				"instance", ck.Instance, "batch", ck.Batch, "lease_until", ck.Lease)
			logged = time.Now()
		}
		select {
		case <-poll.C:
		case <-c.stopCh:
			return errStopped
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// save writes ck, on this instance's behalf when the store is fenced.
func (c *Context) save(ctx context.Context, store CheckpointStore, ck *Checkpoint) error {
	if fs, ok := store.(FencedStore); ok {
		ck.Instance = c.instance
		return fs.SaveAs(ctx, c.instance, ck)
	}
	return store.Save(ctx, ck)
}

// giveUp tells a newer instance waiting for the failed batch ck that it
// need not wait for the lease: it ends the lease, leaving the batch
// unfinished, so that whoever runs next runs it again.
func (c *Context) giveUp(store CheckpointStore, ck *Checkpoint) {
	if _, ok := store.(FencedStore); !ok {
		return
	}
	failed := *ck
	failed.Done, failed.Lease = false, time.Time{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.save(ctx, store, &failed); err != nil {
		c.log.Warn("streaming: ending the lease of the failed batch", "batch", failed.Batch, "err", err)
	}
}
