package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ehstream/ehstream/offsets"
)

// OpenForReading opens an existing sink to read its positions, for
// `ehstream offsets`: unlike Open it creates nothing, so a mistyped
// --sink is an error rather than a new empty database that says "no stored
// positions".
func OpenForReading(ctx context.Context, spec string) (*Sink, error) {
	s, err := Parse(spec, "")
	if err != nil {
		return nil, err
	}
	if s.Dialect == offsets.SQLite {
		path := strings.TrimPrefix(spec, "sqlite:")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--sink %s: the file %s does not exist (ehstream stream creates it; offsets only reads)", spec, path)
		}
	}
	// mode=rw: never create the file, even if it vanished since the Stat.
	// No journal_mode pragma: setting one writes.
	if err := s.connect(ctx, "mode=rw&_pragma=busy_timeout(10000)"); err != nil {
		return nil, err
	}
	table := offsets.DefaultTable
	exists, err := offsets.HasTable(ctx, s.DB, s.Dialect, table)
	if err != nil {
		s.DB.Close()
		return nil, fmt.Errorf("%s: %v", s.Desc, RedactErr(err, s.spec))
	}
	if !exists {
		s.DB.Close()
		return nil, fmt.Errorf("--sink %s holds no table %s: no job has stored positions there (check --sink)", s.Desc, table)
	}
	// The table exists, so Open's CREATE TABLE IF NOT EXISTS changes nothing.
	if s.Store, err = offsets.Open(ctx, s.DB, &offsets.Options{Dialect: s.Dialect, Table: table}); err != nil {
		s.DB.Close()
		return nil, err
	}
	return s, nil
}
