package offsets_test

import (
	"database/sql"
	"errors"
	"testing"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
)

// A batch committed again says it committed already, which a stream
// replaying it counts as done; a batch that committed only in part, or a
// gap, does not.
func TestMismatchAlreadyCommitted(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if err := commit(t, db, store, rng("0", 0, 10), rng("1", 0, 0), rng("2", 0, 4)); err != nil {
			t.Fatal(err)
		}
		err := commit(t, db, store, rng("0", 0, 10), rng("1", 0, 0), rng("2", 0, 4))
		var m *offsets.MismatchError
		if !errors.As(err, &m) || m.Until != 10 || !streaming.IsAlreadyCommitted(err) {
			t.Errorf("the same batch again: %v (%+v), want a MismatchError that says it committed already", err, m)
		}
		for name, ranges := range map[string][]eventhubs.OffsetRange{
			"gap":         {rng("0", 12, 15)},
			"overlap":     {rng("0", 5, 15)},
			"partly":      {rng("1", 0, 3), rng("0", 0, 10)},
			"short batch": {rng("0", 0, 8)},
		} {
			err := commit(t, db, store, ranges...)
			if !errors.As(err, &m) || streaming.IsAlreadyCommitted(err) {
				t.Errorf("%s: %v, want a MismatchError that does not say the batch committed", name, err)
			}
		}
	})
}
