package ownership_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/ehstream/ehstream/internal/azuritetest"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopAzurite()
	os.Exit(code)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// postgresURL is $EHSTREAM_TEST_POSTGRES; the test is skipped without it,
// except in CI (CI=true), where it fails.
func postgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("EHSTREAM_TEST_POSTGRES")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("EHSTREAM_TEST_POSTGRES is not set, and CI=true: .ci/run sets it")
		}
		t.Skip("EHSTREAM_TEST_POSTGRES is not set: skipping the PostgreSQL tests (bash .ci/run sets it)")
	}
	return url
}

func openPostgres(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "test.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqlStores makes an offsets store and an ownership store for job on
// tables of their own in db, dropped after the test.
func sqlStores(t testing.TB, db *sql.DB, job string) (*offsets.Store, *ownership.SQLStore) {
	t.Helper()
	suffix := unique("")
	positions, err := offsets.Open(testCtx(t, 30*time.Second), db, &offsets.Options{Table: "offsets_t" + suffix})
	if err != nil {
		t.Fatal(err)
	}
	store, err := ownership.NewSQLStore(testCtx(t, 30*time.Second), positions, job, &ownership.SQLOptions{Table: "ownership_t" + suffix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP TABLE " + positions.Table())
		db.Exec("DROP TABLE " + store.Table())
	})
	return positions, store
}

// dbClock is the database's time now, the clock SQLStore claims by.
func dbClock(t testing.TB, db *sql.DB, dialect offsets.Dialect) time.Time {
	t.Helper()
	query := `SELECT CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER)`
	if dialect == offsets.PostgreSQL {
		query = `SELECT floor(extract(epoch from clock_timestamp()) * 1000)::bigint`
	}
	var ms int64
	if err := db.QueryRow(query).Scan(&ms); err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(ms)
}

// backend is one kind of store under the protocol tests.
type backend struct {
	store azeventhubs.CheckpointStore
	// clock reads the time the store claims by (the database's, or the
	// storage service's) and how precise its claims' times are.
	clock     func(t testing.TB) time.Time
	precision time.Duration
}

// backends runs fn against a fresh PostgreSQL store, SQLite store and blob
// container on Azurite.
func backends(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("postgres", func(t *testing.T) {
		db := openPostgres(t)
		_, s := sqlStores(t, db, "totals")
		fn(t, backend{store: s, clock: func(t testing.TB) time.Time { return dbClock(t, db, offsets.PostgreSQL) }, precision: time.Millisecond})
	})
	t.Run("sqlite", func(t *testing.T) {
		db := openSQLite(t)
		_, s := sqlStores(t, db, "totals")
		fn(t, backend{store: s, clock: func(t testing.TB) time.Time { return dbClock(t, db, offsets.SQLite) }, precision: time.Millisecond})
	})
	t.Run("blob", func(t *testing.T) {
		s, cc := blobStore(t)
		clock := func(t testing.TB) time.Time {
			// The service's clock: the Date of its answer, in seconds.
			p, err := cc.GetProperties(testCtx(t, 30*time.Second), nil)
			if err != nil || p.Date == nil {
				t.Fatalf("container properties: %v", err)
			}
			return *p.Date
		}
		fn(t, backend{store: s, clock: clock, precision: time.Second})
	})
}

// Azurites, started once for the package's tests that need them: one
// over http that takes connection strings, one over https that takes
// bearer tokens too (azuriteOAuth).
var azurite, azuriteOAuth azuritetest.Run

// devAccountKey is Azurite's well-known development account key.
const devAccountKey = azuritetest.DevAccountKey

// azuriteConnStr is the connection string of an Azurite started in memory
// for the package's tests.
func azuriteConnStr(t testing.TB) string { return azurite.ConnStr(t) }

func stopAzurite() {
	azurite.Stop()
	azuriteOAuth.Stop()
}

// blobStore is the SDK's blob store on a new container of Azurite's, and
// the container's client.
func blobStore(t testing.TB) (azeventhubs.CheckpointStore, *container.Client) {
	t.Helper()
	cs := azuriteConnStr(t)
	name, cc := azuritetest.NewContainer(t, cs)
	s, err := ownership.NewBlobStore(testCtx(t, 30*time.Second), cs, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, cc
}
