package offsets

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// Dialect is the SQL database a Store talks to.
type Dialect string

const (
	SQLite     Dialect = "sqlite"   // modernc.org/sqlite (driver name "sqlite")
	PostgreSQL Dialect = "postgres" // github.com/jackc/pgx/v5/stdlib (driver name "pgx")
)

// DefaultTable holds the positions unless Options.Table says otherwise.
const DefaultTable = "ehstream_offsets"

// Options holds Open's optional settings; nil means defaults.
type Options struct {
	// Dialect; "" detects SQLite and PostgreSQL from the driver.
	Dialect Dialect
	// Table; "" means DefaultTable.
	Table string
}

// Store keeps stream positions in a table of a database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	table   string
}

// Job identifies a stream's positions: the job's name, and the namespace,
// hub and consumer group it reads. Each partition has one position.
//
// Event Hubs compares namespace, hub and consumer group names without
// regard to case, and so does the store: it keeps them in lower case, so a
// job whose names are spelled otherwise finds its positions.
type Job struct {
	Name          string
	Namespace     string // the host, without a port
	EventHub      string
	ConsumerGroup string
	// Output names what the job's results go to, e.g. a table. When set,
	// the positions remember it, and a job with another Output is refused
	// (*ConflictError): positions say what one output holds, and another
	// output starting from them would miss everything before.
	Output string
}

// String is the job's name and what it reads, without the word "job", so
// that a log attribute "job" reads once: job="orders" (ns/hub, ...).
func (j Job) String() string {
	s := fmt.Sprintf("%q (%s/%s, consumer group %s", j.Name, j.Namespace, j.EventHub, j.ConsumerGroup)
	if j.Output != "" {
		s += ", output " + j.Output
	}
	return s + ")"
}

// canonical spells the names Event Hubs compares case-insensitively in
// lower case, as the store keeps them.
func (j Job) canonical() Job {
	j.Namespace = strings.ToLower(j.Namespace)
	j.EventHub = strings.ToLower(j.EventHub)
	j.ConsumerGroup = strings.ToLower(j.ConsumerGroup)
	return j
}

// JobFor is the Job named name that reads conf's hub and consumer group.
func JobFor(name string, conf *eventhubs.Conf) (Job, error) {
	host, err := conf.NamespaceHost()
	if err != nil {
		return Job{}, err
	}
	j := Job{Name: name, Namespace: host, EventHub: conf.EventHubName(), ConsumerGroup: conf.ConsumerGroup()}.canonical()
	return j, j.validate()
}

func (j Job) validate() error {
	for _, f := range []struct{ name, v string }{{"name", j.Name}, {"namespace", j.Namespace}, {"event hub", j.EventHub}, {"consumer group", j.ConsumerGroup}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("offsets: job %s: the job's %s is empty", j, f.name)
		}
	}
	return nil
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidateTableName refuses a table name that would need quoting: tables
// are named in SQL text, never bound as parameters.
func ValidateTableName(name string) error {
	if !tableName.MatchString(name) {
		return fmt.Errorf("table name %q: use letters, digits and _ (at most 63), not starting with a digit", name)
	}
	return nil
}

// Open returns the store in db, creating its table if needed.
func Open(ctx context.Context, db *sql.DB, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{db: db, dialect: opts.Dialect, table: opts.Table}
	if s.table == "" {
		s.table = DefaultTable
	}
	if err := ValidateTableName(s.table); err != nil {
		return nil, fmt.Errorf("offsets: %w", err)
	}
	if s.dialect == "" {
		s.dialect = detect(db)
	}
	switch s.dialect {
	case SQLite, PostgreSQL:
	case "":
		return nil, fmt.Errorf("offsets: cannot tell the database from its driver %T; set Options.Dialect", db.Driver())
	default:
		return nil, fmt.Errorf("offsets: dialect %q: want %q or %q", s.dialect, SQLite, PostgreSQL)
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	job            TEXT   NOT NULL,
	namespace      TEXT   NOT NULL,
	eventhub       TEXT   NOT NULL,
	consumer_group TEXT   NOT NULL,
	partition_id   TEXT   NOT NULL,
	next_seq       BIGINT NOT NULL,
	updated_ms     BIGINT NOT NULL,
	output         TEXT,
	hub_created_ms BIGINT,
	batch_ms       BIGINT,
	PRIMARY KEY (job, namespace, eventhub, consumer_group, partition_id))`
	var err error
	for range 3 { // concurrent CREATEs in PostgreSQL can collide; the loser retries
		if _, err = db.ExecContext(ctx, ddl); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("offsets: creating table %s: %w", s.table, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("offsets: upgrading table %s: %w", s.table, err)
	}
	return s, nil
}

// detect names the dialect of db's driver, or "" when it is neither.
func detect(db *sql.DB) Dialect {
	switch t := fmt.Sprintf("%T", db.Driver()); {
	case strings.Contains(t, "sqlite"):
		return SQLite
	case strings.Contains(t, "stdlib") || strings.Contains(t, "pgx") || strings.Contains(t, "pq."):
		return PostgreSQL
	}
	return ""
}

// Dialect is the store's database.
func (s *Store) Dialect() Dialect { return s.dialect }

// Table is the table holding the positions.
func (s *Store) Table() string { return s.table }

// DB is the database the store was opened on, for packages that keep
// tables of their own beside the positions (package ownership).
func (s *Store) DB() *sql.DB { return s.db }

// HasTable reports whether table exists where unqualified queries find it
// (in PostgreSQL, on the search_path; SQLite's names ignore case), for a
// program that reads a database it must not create tables in.
func HasTable(ctx context.Context, db *sql.DB, dialect Dialect, table string) (bool, error) {
	var n int
	var err error
	if dialect == PostgreSQL {
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT to_regclass($1) AS t) r WHERE t IS NOT NULL`, table).Scan(&n)
	} else {
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, table).Scan(&n)
	}
	return n > 0, err
}

// q writes query's ? placeholders as the store's dialect wants them.
func (s *Store) q(query string) string { return s.dialect.Rebind(query) }

// Rebind writes query's ? placeholders as the dialect wants them: ? for
// SQLite, $1, $2, ... for PostgreSQL.
func (d Dialect) Rebind(query string) string {
	if d != PostgreSQL {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func nowMillis() int64 { return time.Now().UnixMilli() }
