package sqlsink

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ehstream/ehstream/offsets"
)

// column is a column of the events table, as ddl makes it.
type column struct{ name, typ string }

// eventColumns are the events table's columns in the sink's dialect.
func (s *Sink) eventColumns() []column {
	ts, js, blob := "TEXT", "TEXT", "BLOB"
	if s.Dialect == offsets.PostgreSQL {
		ts, js, blob = "TIMESTAMPTZ", "JSONB", "BYTEA"
	}
	return []column{{"eventhub", "TEXT NOT NULL"}, {"partition_id", "TEXT NOT NULL"}, {"sequence_number", "BIGINT NOT NULL"},
		{"offset", "TEXT NOT NULL"}, {"enqueued_time", ts + " NOT NULL"}, {"partition_key", "TEXT"},
		{"properties", js + " NOT NULL"}, {"body", blob + " NOT NULL"}}
}

// definition is c as CREATE TABLE and ALTER TABLE take it ("offset" is a
// keyword).
func (c column) definition() string {
	if c.name == "offset" {
		return `"offset" ` + c.typ
	}
	return c.name + " " + c.typ
}

// ddl creates the events table. It has no key: the positions, committed
// in each batch's transaction, write each event once, and a unique index
// of the positions lets one job write a hub into the table (package
// offsets). A key on the events cost PostgreSQL 40% of its work per row,
// and the job a third of its speed; add the indexes your queries need.
// Tables an older ehstream made keep their key (insertError explains a
// collision with it).
func (s *Sink) ddl() string {
	var defs []string
	for _, c := range s.eventColumns() {
		defs = append(defs, "\n\t"+c.definition())
	}
	return `CREATE TABLE IF NOT EXISTS ` + s.Table + ` (` + strings.Join(defs, ",") + `)`
}

// CreateTable creates the events table, unless the sink has none, and
// checks the shape of one that was there (CheckTable). The stream calls it
// once the job's positions are known to belong to it, so that a refused
// run leaves no empty table behind.
func (s *Sink) CreateTable(ctx context.Context) error {
	if s.Table == "" {
		return nil
	}
	// Replicas starting together create it concurrently, and PostgreSQL's
	// CREATE TABLE IF NOT EXISTS can then fail on its catalogue's unique
	// index; the table exists by the next try.
	var err error
	for range 3 {
		if _, err = s.DB.ExecContext(ctx, s.ddl()); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("creating table %s in %s: %w", s.Table, s.Desc, err)
	}
	return s.CheckTable(ctx)
}

// TableError is an events table that exists without the columns the sink
// writes: a table of something else, or of another program.
type TableError struct {
	Table, Sink string   // the table, and the sink's description
	Missing     []string // the columns it lacks
	Has         []string // the columns it has
	add         []string // the missing columns as the sink makes them, for ALTER TABLE
}

func (e *TableError) Error() string {
	return fmt.Sprintf("sqlsink: table %s in %s has no column %s (it has %s): it is not a table of events as the sink writes them; "+
		"write to another table, or add the missing columns (%s)",
		e.Table, e.Sink, strings.Join(e.Missing, ", "), strings.Join(e.Has, ", "), strings.Join(e.add, ", "))
}

// CheckTable returns a *TableError when the events table exists without
// a column the sink writes, so that a job finds out at its start rather
// than at its first batch; nil when it has them all, or does not exist
// (CreateTable makes it). It creates nothing.
func (s *Sink) CheckTable(ctx context.Context) error {
	if s.Table == "" {
		return nil
	}
	has, err := offsets.Columns(ctx, s.DB, s.Dialect, s.Table)
	if err != nil {
		return fmt.Errorf("reading the columns of table %s in %s: %w", s.Table, s.Desc, err)
	}
	if len(has) == 0 {
		return nil
	}
	e := &TableError{Table: s.Table, Sink: s.Desc, Has: has}
	for _, c := range s.eventColumns() {
		if !slices.ContainsFunc(has, func(h string) bool { return strings.EqualFold(h, c.name) }) {
			e.Missing = append(e.Missing, c.name)
			e.add = append(e.add, c.definition())
		}
	}
	if e.Missing == nil {
		return nil
	}
	return e
}
