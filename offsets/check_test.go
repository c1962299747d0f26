package offsets_test

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// CheckOffsets, in a transaction or outside one, says what CommitOffsets
// would say of the same batch, field by field: nothing, a mismatch (and
// whether exactly this batch committed before), or a conflict with
// another output or another job writing the output.
func TestCheckOffsetsAgreesWithCommitOffsets(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		archive := job
		archive.Output = "archive"
		elsewhere, other, legacy, legacyArchive := archive, archive, archive, archive
		elsewhere.Output = "elsewhere"
		other.Name = "other"
		legacy.Name, legacy.Output = "legacy", ""
		legacyArchive.Name = "legacy"
		reset := eventhubs.OffsetRange{Name: "orders", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 4, ResetFrom: 20}
		onHub := func(r eventhubs.OffsetRange, ms int64) eventhubs.OffsetRange {
			r.HubCreatedOn = time.UnixMilli(ms)
			return r
		}
		for _, step := range []struct {
			name   string
			job    offsets.Job
			ranges []eventhubs.OffsetRange
			want   string // "" (then committed), "mismatch" or "conflict"
		}{
			{"a new job", archive, []eventhubs.OffsetRange{rng("0", 0, 10), rng("1", 0, 5)}, ""},
			{"the batch again", archive, []eventhubs.OffsetRange{rng("0", 0, 10), rng("1", 0, 5)}, "mismatch"},
			{"a gap after a move", archive, []eventhubs.OffsetRange{rng("0", 10, 20), rng("1", 7, 9)}, "mismatch"},
			{"a repeat after an empty range", archive, []eventhubs.OffsetRange{rng("0", 10, 10), rng("1", 0, 5)}, "mismatch"},
			{"a new partition", archive, []eventhubs.OffsetRange{rng("2", 0, 3), rng("0", 10, 20)}, ""},
			{"a reset", archive, []eventhubs.OffsetRange{reset}, ""},
			{"the reset again", archive, []eventhubs.OffsetRange{reset}, "mismatch"},
			{"a batch that records its hub", archive, []eventhubs.OffsetRange{onHub(rng("0", 4, 6), 1_700_000_000_000)}, ""},
			{"a batch of a hub created again", archive, []eventhubs.OffsetRange{onHub(rng("0", 6, 8), 1_700_000_001_000)}, "data loss"},
			{"another output", elsewhere, []eventhubs.OffsetRange{rng("0", 4, 8)}, "conflict"},
			{"another job writing the output", other, []eventhubs.OffsetRange{rng("1", 0, 5)}, "conflict"},
			{"a job with no output", legacy, []eventhubs.OffsetRange{rng("0", 0, 5)}, ""},
			{"that job writing a taken output", legacyArchive, []eventhubs.OffsetRange{rng("0", 5, 6)}, "conflict"},
		} {
			outside := store.CheckOffsets(ctx(t), nil, step.job, step.ranges)
			tx, err := db.BeginTx(ctx(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			inside := store.CheckOffsets(ctx(t), tx, step.job, step.ranges)
			committed := store.CommitOffsets(ctx(t), tx, step.job, step.ranges)
			if committed == nil && step.want == "" {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if kind(committed) != step.want {
				t.Fatalf("%s: CommitOffsets = %v, want %q", step.name, committed, step.want)
			}
			for where, checked := range map[string]error{"outside a transaction": outside, "in the transaction": inside} {
				if !sameOutcome(checked, committed) {
					t.Errorf("%s: CheckOffsets %s = %v, CommitOffsets = %v", step.name, where, checked, committed)
				}
			}
		}
	})
}

// kind names an outcome of CommitOffsets.
func kind(err error) string {
	var m *offsets.MismatchError
	var c *offsets.ConflictError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &m):
		return "mismatch"
	case errors.As(err, &c):
		return "conflict"
	case eventhubs.HasCode(err, eventhubs.CodeDataLoss):
		return "data loss"
	}
	return fmt.Sprintf("other (%v)", err)
}

// sameOutcome reports two outcomes that agree in every field.
func sameOutcome(a, b error) bool {
	var ma, mb *offsets.MismatchError
	var ca, cb *offsets.ConflictError
	switch {
	case a == nil || b == nil:
		return a == nil && b == nil
	case errors.As(a, &ma) && errors.As(b, &mb):
		return *ma == *mb && ma.AlreadyCommitted() == mb.AlreadyCommitted()
	case errors.As(a, &ca) && errors.As(b, &cb):
		return ca.Error() == cb.Error() && (ca.Writer == nil) == (cb.Writer == nil) && (ca.Writer == nil || *ca.Writer == *cb.Writer)
	case eventhubs.HasCode(a, eventhubs.CodeDataLoss):
		return a.Error() == b.Error()
	}
	return false
}
