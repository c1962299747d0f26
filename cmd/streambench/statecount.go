package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"strconv"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
)

// countsStep names the running counts' step, whose records readCounts
// reads back.
const countsStep = "counts"

// runStateCounts reads the backlog again with a running count per key
// (MapWithState), its state kept per partition in db, and prints its rate
// against the plain stream's (direct), what the state's commits stored and
// took, and the counts read back from the database, which must add up to
// the events read.
func runStateCounts(ctx context.Context, connStr string, want int64, c config, db *stateDB, direct phase) error {
	r, err := newTypedRun(connStr, c.rate, c.interval, false)
	if err != nil {
		return err
	}
	defer r.close()
	// Keys are partition-local: each partition has keys of its own, so the
	// state holds c.state.keys keys in all.
	perPartition := int64((c.state.keys + c.partitions - 1) / c.partitions)
	pairs := streaming.Map(r.events, func(e *eventhubs.Event) streaming.KV[int64, struct{}] {
		p, _ := strconv.ParseInt(e.PartitionID, 10, 64)
		return streaming.KV[int64, struct{}]{Key: p*perPartition + e.SequenceNumber%perPartition}
	})
	counts, err := streaming.MapWithState(pairs, streaming.StateSpec[int64, struct{}, int64, struct{}]{
		Func: func(_ int64, _ struct{}, state *streaming.State[int64]) struct{} {
			n, _ := state.Get()
			state.Update(n + 1)
			return struct{}{}
		},
	})
	if err != nil {
		return err
	}
	k, err := keepState(ctx, r, db, "streambench-counts")
	if err != nil {
		return err
	}
	commitEach(k, counts.Named(countsStep))
	ph, err := r.run(want)
	if err != nil {
		return err
	}
	rss := peakRSS()
	stored, err := readCounts(ctx, k.ps, c.partitions)
	if err != nil {
		return err
	}
	fmt.Printf("state (%s, MapWithState running counts, %d keys, %d per partition): batches=%d %s %s %s stored rows=%d whole=%d keys=%d sum=%d table=%s peakRSS=%s\n",
		db.name, c.state.keys, perPartition, r.batches.Load(), ph, ph.against(direct), k.report(),
		stored.rows, stored.whole, stored.keys, stored.sum, db.stateTableSize(ctx), rss)
	if stored.sum != ph.events {
		return fmt.Errorf("%s: the stored running counts add up to %d, but %d events were read", db.name, stored.sum, ph.events)
	}
	return nil
}

// storedCounts is what the database holds of the running counts.
type storedCounts struct {
	rows, whole int // records, and whole ones among them
	keys        int
	sum         int64
}

// countsRecord is the part of a MapWithState's state record that holds
// each key's state: gob matches the fields of streaming's record by name
// and skips the rest.
type countsRecord struct {
	Set []struct {
		Key   int64
		Value struct{ State int64 }
	}
	Removed []int64
}

// readCounts reads each partition's running counts back from the
// database, applying its records in order as a replica that gains the
// partition would.
func readCounts(ctx context.Context, ps *offsets.PartitionState, partitions int) (storedCounts, error) {
	var out storedCounts
	for p := range partitions {
		id := strconv.Itoa(p)
		st, err := ps.LoadPartitionState(ctx, id)
		if err != nil {
			return out, err
		}
		counts, begun := map[int64]int64{}, false
		for _, rec := range st.Records {
			if rec.Step != countsStep {
				continue
			}
			if out.rows++; rec.Full {
				out.whole++
				clear(counts)
				begun = true
			} else if !begun {
				return out, fmt.Errorf("partition %s's stored counts begin with a batch's changes, not a whole state", id)
			}
			var cr countsRecord
			if err := gob.NewDecoder(bytes.NewReader(rec.Data)).Decode(&cr); err != nil {
				return out, fmt.Errorf("partition %s's stored counts: %w", id, err)
			}
			for _, kv := range cr.Set {
				counts[kv.Key] = kv.Value.State
			}
			for _, k := range cr.Removed {
				delete(counts, k)
			}
		}
		out.keys += len(counts)
		for _, n := range counts {
			out.sum += n
		}
	}
	return out, nil
}
