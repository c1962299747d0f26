package ownership_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
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
var azurite, azuriteOAuth azuriteRun

type azuriteRun struct {
	once     sync.Once
	cmd      *exec.Cmd
	endpoint string // http(s)://127.0.0.1:PORT
	err      error
}

// devAccountKey is Azurite's well-known development account key.
const devAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// azuriteConnStr is the connection string of an Azurite started in memory
// for the package's tests. Without node or `npm ci` in testdata/azurite
// the test is skipped, or fails when EHSTREAM_TEST_AZURITE is set (CI).
func azuriteConnStr(t testing.TB) string {
	t.Helper()
	endpoint := azurite.start(t)
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + devAccountKey +
		";BlobEndpoint=" + endpoint + "/devstoreaccount1;"
}

// start starts the run's Azurite once, with extra arguments, and returns
// where it listens.
func (a *azuriteRun) start(t testing.TB, extra ...string) string {
	t.Helper()
	dir, _ := filepath.Abs("testdata/azurite")
	bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
	node, err := exec.LookPath("node")
	_, binErr := os.Stat(bin)
	if err != nil || binErr != nil {
		if os.Getenv("EHSTREAM_TEST_AZURITE") != "" {
			t.Fatalf("EHSTREAM_TEST_AZURITE is set but node (%v) or azurite (%v) is missing: run npm ci in ownership/testdata/azurite", err, binErr)
		}
		t.Skip("needs node and `npm ci` in ownership/testdata/azurite (bash .ci/run does both)")
	}
	a.once.Do(func() { a.endpoint, a.err = a.run(node, bin, extra...) })
	if a.err != nil {
		t.Fatalf("starting azurite: %v", a.err)
	}
	return a.endpoint
}

var listening = regexp.MustCompile(`successfully listens on (https?://127\.0\.0\.1:\d+)`)

// run runs Azurite's blob service in memory on a free loopback port
// (--blobPort 0) and waits until it says where it listens.
func (a *azuriteRun) run(node, bin string, extra ...string) (string, error) {
	work, err := os.MkdirTemp("", "azurite")
	if err != nil {
		return "", err
	}
	args := append([]string{bin, "--inMemoryPersistence", "--extentMemoryLimit", "64", "--blobHost", "127.0.0.1", "--blobPort", "0",
		"--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"}, extra...)
	cmd := exec.Command(node, args...)
	cmd.Dir = work // in memory: nothing is written there but what extra names
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	a.cmd = cmd
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, out)
		close(found)
	}()
	select {
	case endpoint, ok := <-found:
		if !ok {
			cmd.Wait()
			return "", fmt.Errorf("azurite exited before listening: %s", stderr.String())
		}
		return endpoint, nil
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("azurite did not say it listens within 60s: %s", stderr.String())
	}
}

func stopAzurite() {
	for _, a := range []*azuriteRun{&azurite, &azuriteOAuth} {
		if a.cmd != nil && a.cmd.Process != nil {
			a.cmd.Process.Kill()
			a.cmd.Wait()
			if dir := a.cmd.Dir; strings.Contains(dir, "azurite") {
				os.RemoveAll(dir)
			}
		}
	}
}

// blobStore is the SDK's blob store on a new container of Azurite's, and
// the container's client.
func blobStore(t testing.TB) (azeventhubs.CheckpointStore, *container.Client) {
	t.Helper()
	cs := azuriteConnStr(t)
	name := unique("t-")
	s, err := ownership.NewBlobStore(testCtx(t, 30*time.Second), cs, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := container.NewClientFromConnectionString(cs, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Delete(context.Background(), nil) })
	return s, cc
}
