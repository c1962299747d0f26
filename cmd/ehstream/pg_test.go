package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/ehstream/ehstream/internal/pgtest"
	"github.com/ehstream/ehstream/sqlsink"
)

// freshPostgres is an empty database on the server of
// $EHSTREAM_TEST_POSTGRES; the test is skipped when the variable is unset.
func freshPostgres(t *testing.T) string { return pgtest.Fresh(t) }

// createPostgresDB creates an empty database on base's server, dropped when
// the test ends, and returns its URL.
func createPostgresDB(t testing.TB, base string) string { return pgtest.CreateDB(t, base) }

// Replicas starting together create the events table concurrently; in
// PostgreSQL the loser of that race must not fail the start.
func TestSinkCreateTableConcurrently(t *testing.T) {
	pg := freshPostgres(t)
	ctx := context.Background()
	for round := range 5 {
		table := fmt.Sprintf("events_%d", round)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				sk, err := sqlsink.Open(ctx, pg, table)
				if err == nil {
					err = sk.CreateTable(ctx)
					sk.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
