package sqlsink

import (
	"context"
	"database/sql"
)

// walCheckpointer checkpoints a SQLite sink's WAL in the background, on a
// connection of its own, after each commit: SQLite's automatic checkpoint
// (turned off, see Sink.Connect) would run inside the commit, and its copying
// and fsync would delay every batch's commit by tens of milliseconds. A
// checkpoint that finishes before the next batch's transaction begins
// (insertChunks begins it once the first rows are read) lets that
// transaction write the WAL from its start again; one that cannot finish
// (a reader holds an old snapshot, the checkpoint is slow) is finished by
// a later one.
type walCheckpointer struct {
	db   *sql.DB
	kick chan struct{}
	done chan struct{}
}

func startWALCheckpointer(db *sql.DB) *walCheckpointer {
	c := &walCheckpointer{db: db, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for range c.kick {
			// PASSIVE waits for no reader and no writer; what it leaves is
			// left for the next.
			c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}()
	return c
}

// committed asks for a checkpoint, unless one is asked for already.
func (c *walCheckpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close waits for a running checkpoint and stops.
func (c *walCheckpointer) close() {
	close(c.kick)
	<-c.done
}
