package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ehstream/ehstream/sqlsink"
)

// freshPostgres is an empty database on the server of
// $EHSTREAM_TEST_POSTGRES, for a test that needs one no other test writes
// to; the test is skipped when the variable is unset.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("EHSTREAM_TEST_POSTGRES")
	if base == "" {
		t.Skip("EHSTREAM_TEST_POSTGRES is not set: skipping the PostgreSQL tests (bash .ci/run sets it)")
	}
	return createPostgresDB(t, base)
}

// createPostgresDB creates an empty database on base's server, dropped when
// the test ends, and returns its URL.
func createPostgresDB(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("EHSTREAM_TEST_POSTGRES is not a URL: %v", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := uniqueName("ehstream_t")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, sqlsink.RedactErr(err, base))
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, sqlsink.RedactErr(err, base))
		}
	})
	u.Path = "/" + name
	return u.String()
}

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
