package offsets_test

import (
	"database/sql"
	"maps"
	"testing"

	"github.com/ehstream/ehstream/offsets"
)

// StoredPositions reads the positions of the partitions asked for, and
// leaves out a partition without one.
func TestStoredPositions(t *testing.T) {
	databases(t, func(t *testing.T, db *sql.DB, store *offsets.Store) {
		if err := commit(t, db, store, rng("0", 0, 10), rng("1", 0, 7), rng("2", 0, 3)); err != nil {
			t.Fatal(err)
		}
		got, err := store.StoredPositions(job)(ctx(t), []string{"0", "2", "5"})
		if want := map[string]int64{"0": 10, "2": 3}; err != nil || !maps.Equal(got, want) {
			t.Errorf("StoredPositions = %v, %v; want %v", got, err, want)
		}
	})
}
