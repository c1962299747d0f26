package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ehstream/ehstream/internal/dbspec"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/streaming"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// stateConfig is what the flags of -state-store say.
type stateConfig struct {
	list     string
	stores   []string // dir, sqlite, postgres: from list
	keys     int
	postgres string
}

func (c *stateConfig) flags() {
	flag.StringVar(&c.list, "state-store", "dir", "where state is kept, a comma-separated list of dir (the -event-time window's, in a checkpoint directory), "+
		"sqlite and postgres (per partition in that database: a MapWithState of -state-keys keys, and with -event-time the window too)")
	flag.IntVar(&c.keys, "state-keys", 100_000, "with -state-store sqlite or postgres: the MapWithState's keys in all, spread evenly over the partitions")
	flag.StringVar(&c.postgres, "postgres", "", "with -state-store postgres: the database's URL (default $EHSTREAM_TEST_POSTGRES)")
}

// check says which flag is wrong and what it takes, and fills stores.
func (c *stateConfig) check() error {
	var err error
	if c.stores, err = listFlag("-state-store", c.list, "dir", "sqlite", "postgres"); err != nil {
		return err
	}
	if c.keys <= 0 {
		return fmt.Errorf("-state-keys %d: give a positive number of keys, say 100000", c.keys)
	}
	if c.postgres == "" {
		c.postgres = os.Getenv("EHSTREAM_TEST_POSTGRES")
	}
	if slices.Contains(c.stores, "postgres") && c.postgres == "" {
		return fmt.Errorf("-state-store postgres: no database: give -postgres postgres://user:password@host:5432/db, or set EHSTREAM_TEST_POSTGRES")
	}
	return nil
}

// databases are the stores that keep state per partition in a database.
func (c *stateConfig) databases() []string {
	return slices.DeleteFunc(slices.Clone(c.stores), func(s string) bool { return s == "dir" })
}

// stateDB is a database that keeps a phase's state per partition, in
// tables of the run's own, dropped (or a file removed) by close.
type stateDB struct {
	name  string // sqlite or postgres
	db    *sql.DB
	store *offsets.Store
	close func()
}

// openStateDB opens name's database: a new SQLite file, or tables of a
// name of their own in the PostgreSQL database at url.
func openStateDB(ctx context.Context, name, url string) (*stateDB, error) {
	b := make([]byte, 4)
	rand.Read(b)
	table := "streambench_" + hex.EncodeToString(b)
	if name == "sqlite" {
		return openSQLiteState(ctx, table)
	}
	db, err := openPostgres(ctx, url)
	if err != nil {
		return nil, err
	}
	return newStateDB(ctx, name, db, table, func() {})
}

// openPostgres opens the database of -postgres and connects to it: its
// errors name the flag and the URL without its password.
func openPostgres(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open("pgx", url)
	if err == nil {
		if err = db.PingContext(ctx); err != nil {
			db.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("-postgres %s: %w; start PostgreSQL there, or give -postgres the URL of one that runs",
			dbspec.Redact(url), dbspec.ScrubErr(err, dbspec.Secrets(url)))
	}
	return db, nil
}

func openSQLiteState(ctx context.Context, table string) (*stateDB, error) {
	dir, err := os.MkdirTemp("", "streambench-sqlite")
	if err != nil {
		return nil, err
	}
	// WAL and a busy timeout, as the examples and the CLI open SQLite.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return newStateDB(ctx, "sqlite", db, table, func() { os.RemoveAll(dir) })
}

func newStateDB(ctx context.Context, name string, db *sql.DB, table string, remove func()) (*stateDB, error) {
	store, err := offsets.Open(ctx, db, &offsets.Options{Table: table})
	if err != nil {
		db.Close()
		remove()
		return nil, err
	}
	return &stateDB{name: name, db: db, store: store, close: func() {
		db.Exec("DROP TABLE " + table + offsets.StateTableSuffix)
		db.Exec("DROP TABLE " + table)
		db.Close()
		remove()
	}}, nil
}

// stateTableSize is the state table's size in PostgreSQL, indexes and
// TOAST included, or in SQLite the database file's (whose positions'
// table is a few rows: modernc's SQLite has no dbstat to size one table);
// "n/a" when the database does not say.
func (d *stateDB) stateTableSize(ctx context.Context) string {
	query := `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	var args []any
	if d.name == "postgres" {
		query, args = `SELECT pg_total_relation_size($1)`, []any{d.store.Table() + offsets.StateTableSuffix}
	}
	var n sql.NullInt64
	if err := d.db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil || !n.Valid {
		return "n/a"
	}
	return fmt.Sprintf("%dkB", n.Int64/1024)
}

// stateKeeper keeps a pipeline's state per partition in a database under
// a job of its own, and measures what each batch's commit stored and
// took.
type stateKeeper struct {
	db  *stateDB
	job offsets.Job
	ps  *offsets.PartitionState

	mu      sync.Mutex
	commits []commitCost
	batches []time.Duration // each batch's processing time
}

// commitCost is what one batch's CommitBatch stored and took.
type commitCost struct {
	bytes          int64 // of StateRecord.Data
	whole, changes int
	took           time.Duration
}

// keepState keeps the state of r's pipeline per partition in db, under
// job name: call it once the pipeline is built.
func keepState(ctx context.Context, r *typedRun, db *stateDB, name string) (*stateKeeper, error) {
	job, err := offsets.JobFor(name, r.conf)
	if err != nil {
		return nil, err
	}
	k := &stateKeeper{db: db, job: job}
	if k.ps, err = db.store.PartitionState(ctx, job); err != nil {
		return nil, err
	}
	if err := streaming.KeepStatePerPartition(r.events, k.ps); err != nil {
		return nil, err
	}
	r.ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if b.Events > 0 {
			k.mu.Lock()
			k.batches = append(k.batches, b.ProcessingTime)
			k.mu.Unlock()
		}
	}))
	return k, nil
}

// commitEach makes ds's output commit each batch's positions and state
// with CommitBatch, writing nothing else, so that what it costs is the
// state's; a batch that read nothing is not counted.
func commitEach[T any](k *stateKeeper, ds streaming.DStream[T]) {
	streaming.ForeachBatch(ds, func(ctx context.Context, b *streaming.BatchData[T]) error {
		batch := offsets.BatchOf(b)
		var cost commitCost
		for _, rec := range batch.State {
			cost.bytes += int64(len(rec.Data))
			if rec.Full {
				cost.whole++
			} else {
				cost.changes++
			}
		}
		start := time.Now()
		err := k.db.store.CommitBatch(ctx, k.job, batch, func(context.Context, *sql.Tx) error { return nil })
		cost.took = time.Since(start)
		if err == nil && len(batch.State) > 0 {
			k.mu.Lock()
			k.commits = append(k.commits, cost)
			k.mu.Unlock()
		}
		return err
	})
}

// report says what the batches' commits stored and took, and the
// batches' time.
func (k *stateKeeper) report() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var bytes []float64
	var commits []time.Duration
	whole, changes := 0, 0
	for _, c := range k.commits {
		bytes = append(bytes, float64(c.bytes))
		commits = append(commits, c.took)
		whole += c.whole
		changes += c.changes
	}
	return fmt.Sprintf("stateBytes/batch median=%.0f max=%.0f records whole=%d changes=%d commit median=%s p95=%s batch median=%s p95=%s",
		quantile(bytes, 0.5), quantile(bytes, 1), whole, changes,
		millis(quantileDuration(commits, 0.5)), millis(quantileDuration(commits, 0.95)),
		millis(quantileDuration(k.batches, 0.5)), millis(quantileDuration(k.batches, 0.95)))
}

// quantile is the q-quantile of xs (nearest rank), 0 for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func quantileDuration(ds []time.Duration, q float64) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(quantile(xs, q))
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
