// Package pgtest gives a test a PostgreSQL database of its own on the
// server that $EHSTREAM_TEST_POSTGRES names. Tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ehstream/ehstream/internal/dbspec"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Fresh is an empty database on the server of $EHSTREAM_TEST_POSTGRES,
// for a test that needs one no other test writes to; the test is skipped
// when the variable is unset, or fails when CI=true.
func Fresh(t testing.TB) string {
	t.Helper()
	return CreateDB(t, URL(t))
}

// URL is $EHSTREAM_TEST_POSTGRES; without it the test is skipped, or
// fails when CI=true, where .ci/run sets it: in CI no PostgreSQL test
// skips unseen.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("EHSTREAM_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("EHSTREAM_TEST_POSTGRES is not set, and CI=true: .ci/run sets it")
		}
		t.Skip("EHSTREAM_TEST_POSTGRES is not set: skipping the PostgreSQL tests (bash .ci/run sets it)")
	}
	return base
}

// CreateDB creates an empty database on base's server, dropped when the
// test ends, and returns its URL.
func CreateDB(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("EHSTREAM_TEST_POSTGRES is not a URL: %v", err)
	}
	redact := func(err error) string { return dbspec.Scrub(err.Error(), dbspec.Secrets(base)) }
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 5)
	rand.Read(b)
	name := "ehstream_t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, redact(err))
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, redact(err))
		}
	})
	u.Path = "/" + name
	return u.String()
}
