package ownership

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/internal/blobspec"
	"github.com/ehstream/ehstream/internal/dbspec"
	"github.com/ehstream/ehstream/offsets"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Options holds Open's optional settings; nil means defaults.
type Options struct {
	// OffsetsTable holds the job's positions, its checkpoints in a SQL
	// store; "" means offsets.DefaultTable.
	OffsetsTable string
	// OwnershipTable holds the ownership records in a SQL store; "" means
	// DefaultTable.
	OwnershipTable string
	// ReadOnly opens a store that exists, for looking: it creates no
	// SQLite file, table or blob container, and fails when they are
	// missing.
	ReadOnly bool
	// Credential signs in to a blob container given by its URL
	// (NewBlobStoreWithCredential); such a spec needs one.
	Credential azcore.TokenCredential
}

// Open opens the store spec names, for job's checkpoints, and returns it
// with what closes it. spec is one of
//
//	postgres://USER:PASSWORD@HOST:PORT/DB (or postgresql://): a SQLStore in PostgreSQL
//	sqlite:PATH                           a SQLStore in a SQLite file
//	blob:CONNECTION-STRING/CONTAINER      the SDK's BlobStore (NewBlobStore)
//	blob:https://ACCOUNT.blob.core.windows.net/CONTAINER
//	                                      the same, signed in with opts.Credential
//	                                      (NewBlobStoreWithCredential)
//
// A SQL store's checkpoints are job's positions (offsets.Job.Name): job
// must not be empty, except in a ReadOnly store, opened to show ownership,
// which then has no checkpoints. A blob store keeps the SDK's own
// checkpoints and ignores job. The container of a blob spec is what follows its last '/',
// e.g. (the key shortened)
//
//	blob:DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8...==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;/ehstream
//
// Unless opts.ReadOnly, Open creates what is missing: the SQLite file, the
// tables, the container. Its errors name the spec without its password,
// account key or shared access signature (see Redact).
func Open(ctx context.Context, spec, job string, opts *Options) (azeventhubs.CheckpointStore, io.Closer, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := CheckSpec(spec); err != nil {
		return nil, nil, err
	}
	switch {
	case isBlobURL(spec):
		if opts.Credential == nil {
			return nil, nil, fmt.Errorf("ownership: store %s: a container URL signs in with a credential, and none was given (a connection string's container is blob:CONNECTION-STRING/CONTAINER)", Redact(spec))
		}
		store, err := NewBlobStoreWithCredential(ctx, strings.TrimPrefix(spec, "blob:"), opts.Credential, &BlobOptions{ReadOnly: opts.ReadOnly})
		if err != nil {
			return nil, nil, err
		}
		return store, nothingToClose{}, nil
	case strings.HasPrefix(spec, "blob:"):
		// CheckSpec found the container after the last '/'.
		rest := strings.TrimPrefix(spec, "blob:")
		i := strings.LastIndex(rest, "/")
		store, err := NewBlobStore(ctx, rest[:i], rest[i+1:], &BlobOptions{ReadOnly: opts.ReadOnly})
		if err != nil {
			return nil, nil, err
		}
		return store, nothingToClose{}, nil
	default: // sqlite: or postgres://, as CheckSpec found
		return openSQL(ctx, spec, job, opts)
	}
}

// CheckSpec says what is wrong with spec's form, without opening
// anything: a program checks its flags before any side effect.
func CheckSpec(spec string) error {
	switch {
	case isBlobURL(spec):
		if _, err := blobspec.ContainerOfURL(strings.TrimPrefix(spec, "blob:")); err != nil {
			return fmt.Errorf("ownership: %w", err)
		}
		return nil
	case strings.HasPrefix(spec, "blob:"):
		rest := strings.TrimPrefix(spec, "blob:")
		i := strings.LastIndex(rest, "/")
		if i < 0 {
			return fmt.Errorf("ownership: store %s: want blob:CONNECTION-STRING/CONTAINER, the container after the last '/'", Redact(spec))
		}
		if err := blobspec.ValidContainer(rest[i+1:], blobspec.ConnStrSecrets(rest)); err != nil {
			return fmt.Errorf("ownership: %w", err)
		}
		return nil
	case spec == "sqlite:":
		return errors.New("ownership: store sqlite: needs a file, e.g. sqlite:ehstream.db")
	case strings.HasPrefix(spec, "sqlite:"), strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return nil
	}
	return fmt.Errorf("ownership: store %s: want a postgres:// URL, sqlite:PATH or blob:CONNECTION-STRING/CONTAINER (or blob:https://ACCOUNT.blob.core.windows.net/CONTAINER, signed in with a credential)", Redact(spec))
}

// isBlobURL reports whether spec names a blob container by its URL, to
// sign in with a credential: a connection string never starts with a
// scheme.
func isBlobURL(spec string) bool {
	rest, ok := strings.CutPrefix(spec, "blob:")
	return ok && (strings.HasPrefix(rest, "https://") || strings.HasPrefix(rest, "http://"))
}

// nothingToClose is the closer of a blob store: its HTTP client holds
// nothing that needs closing.
type nothingToClose struct{}

func (nothingToClose) Close() error { return nil }

// openSQL opens a SQLStore in the database spec names.
func openSQL(ctx context.Context, spec, job string, opts *Options) (azeventhubs.CheckpointStore, io.Closer, error) {
	if strings.TrimSpace(job) == "" && !opts.ReadOnly {
		return nil, nil, fmt.Errorf("ownership: store %s: a SQL store's checkpoints are the positions of a job: name the job", Redact(spec))
	}
	desc := Redact(spec)
	var db *sql.DB
	var dialect offsets.Dialect
	var err error
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		if path == "" {
			return nil, nil, errors.New("ownership: store sqlite: needs a file, e.g. sqlite:ehstream.db")
		}
		// WAL lets readers read while a replica claims; the busy timeout
		// makes racing claims wait for each other instead of failing.
		params := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
		if opts.ReadOnly {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("ownership: store %s: the file %s does not exist", desc, path)
			}
			params = "mode=rw&_pragma=busy_timeout(10000)" // never creates the file; setting a journal mode writes
		}
		db, err = sql.Open("sqlite", "file:"+path+"?"+params)
		dialect = offsets.SQLite
	} else {
		if _, perr := url.Parse(spec); perr != nil {
			return nil, nil, fmt.Errorf("ownership: store %s: not a valid postgres:// URL", desc)
		}
		db, err = sql.Open("pgx", spec)
		dialect = offsets.PostgreSQL
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ownership: opening %s: %w", desc, dbspec.ScrubErr(err, specSecrets(spec)))
	}
	fail := func(err error) (azeventhubs.CheckpointStore, io.Closer, error) {
		db.Close()
		return nil, nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("ownership: connecting to %s: %w", desc, dbspec.ScrubErr(err, specSecrets(spec))))
	}
	offsetsTable, ownershipTable := opts.OffsetsTable, opts.OwnershipTable
	if offsetsTable == "" {
		offsetsTable = offsets.DefaultTable
	}
	if ownershipTable == "" {
		ownershipTable = DefaultTable
	}
	if opts.ReadOnly {
		for _, t := range []string{ownershipTable, offsetsTable} {
			if err := offsets.ValidateTableName(t); err != nil {
				return fail(fmt.Errorf("ownership: %w", err))
			}
			has, err := offsets.HasTable(ctx, db, dialect, t)
			if err != nil {
				return fail(fmt.Errorf("ownership: %s: %w", desc, dbspec.ScrubErr(err, specSecrets(spec))))
			}
			if !has {
				return fail(fmt.Errorf("ownership: store %s holds no table %s: no replica or processor has claimed there", desc, t))
			}
		}
	}
	positions, err := offsets.Open(ctx, db, &offsets.Options{Dialect: dialect, Table: offsetsTable})
	if err != nil {
		return fail(fmt.Errorf("ownership: %s: %w", desc, dbspec.ScrubErr(err, specSecrets(spec))))
	}
	store, err := newSQLStore(ctx, positions, job, &SQLOptions{Table: ownershipTable})
	if err != nil {
		return fail(fmt.Errorf("ownership: %s: %w", desc, dbspec.ScrubErr(err, specSecrets(spec))))
	}
	return store, db, nil
}

// Redact is spec as it may be shown: without the password of a URL (in
// its user information or a password parameter), and without the account
// key or shared access signature of a blob connection string.
func Redact(spec string) string {
	if isBlobURL(spec) {
		return "blob:" + blobspec.RedactURL(strings.TrimPrefix(spec, "blob:"))
	}
	if rest, ok := strings.CutPrefix(spec, "blob:"); ok {
		return "blob:" + blobspec.RedactConnStr(rest)
	}
	return dbspec.Redact(spec)
}

// specSecrets lists the secrets in spec, to keep out of a driver's error.
func specSecrets(spec string) []string {
	if rest, ok := strings.CutPrefix(spec, "blob:"); ok {
		return blobspec.ConnStrSecrets(rest)
	}
	return dbspec.Secrets(spec)
}
