package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// copyColumns are the events table's columns in the order of a row's
// values (sink.insert's order).
var copyColumns = []string{"partition_id", "sequence_number", "offset", "enqueued_time", "partition_key", "properties", "body", "eventhub"}

// copyChunks is the chunk writer of PostgreSQL: the events go in by COPY,
// on the connection and in the transaction where CommitOffsets moves the
// positions, streamed while the partitions are read. database/sql holds
// the transaction (*sql.Tx, as CommitOffsets takes it); COPY reaches the
// same connection's pgx.Conn through sql.Conn.Raw, and so runs inside it.
func (s *Sink) copyChunks(ctx context.Context, job offsets.Job, ranges []eventhubs.OffsetRange, chunks <-chan []any) (finish func(bool) error, err error) {
	// An unquoted name in CREATE TABLE is folded to lower case; COPY
	// quotes it.
	table := pgx.Identifier{strings.ToLower(s.Table)}
	return s.inBatchTx(ctx, job, ranges, func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the PostgreSQL driver's connection is a %T, not pgx's *stdlib.Conn", dc)
		}
		if _, err := c.Conn().CopyFrom(ctx, table, copyColumns, &chunkRows{chunks: chunks}); err != nil {
			if duplicateKey(err) {
				// In a table whose key an older ehstream made, another
				// writer of the job that found the positions as this one
				// did may have committed the same events meanwhile: that
				// is a stale batch, which a stream plans again, not
				// another job's events.
				var mismatch *offsets.MismatchError
				if cerr := s.Store.CheckOffsets(ctx, nil, job, ranges); errors.As(cerr, &mismatch) {
					return cerr
				}
			}
			return s.insertError(err)
		}
		return nil
	})
}

// chunkRows is a pgx.CopyFromSource of the rows in a channel of chunks.
type chunkRows struct {
	chunks <-chan []any
	chunk  []any
}

func (r *chunkRows) Next() bool {
	if len(r.chunk) > columns {
		r.chunk = r.chunk[columns:]
		return true
	}
	for {
		var ok bool
		if r.chunk, ok = <-r.chunks; !ok {
			return false
		}
		if len(r.chunk) >= columns {
			return true
		}
	}
}

func (r *chunkRows) Values() ([]any, error) { return r.chunk[:columns], nil }

func (r *chunkRows) Err() error { return nil }
