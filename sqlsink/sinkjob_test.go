package sqlsink_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

// parseAndConnect is a sink of table in spec, connected, closed after the
// test.
func parseAndConnect(t *testing.T, ctx context.Context, spec, table string) *sqlsink.Sink {
	t.Helper()
	sk, err := sqlsink.Parse(spec, table)
	if err == nil {
		err = sk.Connect(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sk.Close() })
	return sk
}

// Resume refuses a table of another shape before storing a position, and
// otherwise creates the table; a stream the sink is attached to writes
// every event once with its positions, which the next Resume finds.
func TestResumeAndAttach(t *testing.T) {
	const partitions, n = 2, 30
	_, conf, job := startHub(t, "resume", partitions, n)
	spec := "sqlite:" + filepath.Join(t.TempDir(), "events.db")
	ctx := testCtx(t, 60*time.Second)

	wrong := parseAndConnect(t, ctx, spec, "readings")
	if _, err := wrong.DB.ExecContext(ctx, `CREATE TABLE readings (id BIGINT, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	other := job
	other.Name, other.Output = "readings", "readings"
	if _, err := wrong.Resume(ctx, other, conf.Clone()); !errors.As(err, new(*sqlsink.TableError)) {
		t.Fatalf("Resume into a table of another shape = %v, want a *TableError", err)
	}
	if ps, err := wrong.Store.Positions(ctx, other); err != nil || len(ps) != 0 {
		t.Fatalf("after a refused Resume: positions %v (%v), want none", ps, err)
	}

	sk := parseAndConnect(t, ctx, spec, "events")
	resumed, err := sk.Resume(ctx, job, conf)
	if err != nil || resumed.Stored != 0 {
		t.Fatalf("first Resume = %+v, %v; want no stored positions", resumed, err)
	}
	ssc, ds := newDirectStream(t, conf)
	sk.Attach(ds, resumed.Job)
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if streaming.EmptyBatch(b) {
			ssc.Stop(true)
		}
	}))
	if err := ssc.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	checkOnce(t, sk, resumed.Job, partitions, n)
	if again, err := sk.Resume(ctx, job, conf.Clone()); err != nil || again.Stored != partitions {
		t.Errorf("second Resume = %+v, %v; want %d stored positions", again, err, partitions)
	}
}
