package sqlsink_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/internal/pgtest"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// postgresSchema is $EHSTREAM_TEST_POSTGRES with a search_path of an empty
// schema of its own, dropped after the test, so that the sink's tables
// (the positions' is always ehstream_offsets) are the test's alone. The
// test is skipped without the variable.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := pgtest.URL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sqlsink_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, sqlsink.RedactErr(err, base))
		}
		admin.Close()
	})
	if _, err := admin.ExecContext(testCtx(t, 10*time.Second), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, sqlsink.RedactErr(err, base))
	}
	return withParam(t, base, "search_path", schema)
}

// withParam is the postgres:// URL spec with a parameter set.
func withParam(t *testing.T, spec, key, value string) string {
	t.Helper()
	u, err := url.Parse(spec)
	if err != nil {
		t.Fatalf("EHSTREAM_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads a + as itself
	return u.String()
}

// openSink opens a sink with table "events", closed after the test.
func openSink(t *testing.T, spec string) *sqlsink.Sink {
	t.Helper()
	sk, err := sqlsink.Open(testCtx(t, 30*time.Second), spec, "events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sk.Close() })
	return sk
}

// startHub runs an emulator whose hub has partitions partitions of n
// events each, and returns it with a conf of the hub and the job "archive"
// writing it into table "events".
func startHub(t *testing.T, hub string, partitions, n int) (*emulator.Server, *eventhubs.Conf, offsets.Job) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: hub, PartitionCount: partitions}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	cs := srv.ConnectionString(hub)
	if err := localhub.Fill(ctx, cs, partitions, n, nil); err != nil {
		t.Fatal(err)
	}
	conf := eventhubs.NewConf(cs)
	job, err := offsets.JobFor("archive", conf)
	if err != nil {
		t.Fatal(err)
	}
	job.Output = "events"
	return srv, conf, job
}

// rng is a range of the job's hub.
func rng(job offsets.Job, partition string, from, until int64) eventhubs.OffsetRange {
	return eventhubs.OffsetRange{Name: job.EventHub, PartitionID: partition, FromSeqNo: from, UntilSeqNo: until}
}

// writeBatch has sk write the batch of ranges.
func writeBatch(ctx context.Context, sk *sqlsink.Sink, conf *eventhubs.Conf, job offsets.Job, ranges ...eventhubs.OffsetRange) error {
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		return err
	}
	return sk.WriteBatch(ctx, job, rdd)
}

// checkOnce fails unless the table holds each partition's events [0, n)
// once, and the job's positions are n.
func checkOnce(t *testing.T, sk *sqlsink.Sink, job offsets.Job, partitions int, n int64) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	rows, err := sk.DB.QueryContext(ctx, `SELECT partition_id, count(*), count(DISTINCT sequence_number), min(sequence_number), max(sequence_number)
		FROM events GROUP BY partition_id ORDER BY partition_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var p string
		var count, distinct, lo, hi int64
		if err := rows.Scan(&p, &count, &distinct, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		seen++
		if count != n || distinct != n || lo != 0 || hi != n-1 {
			t.Errorf("partition %s: %d rows, %d distinct, sequence numbers %d..%d; want each of 0..%d once", p, count, distinct, lo, hi, n-1)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != partitions {
		t.Errorf("the table holds events of %d partitions, want %d", seen, partitions)
	}
	ps, err := sk.Store.Positions(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Next != n {
			t.Errorf("partition %s: stored position %d, want %d", p.Partition, p.Next, n)
		}
	}
	if len(ps) != partitions {
		t.Errorf("%d stored positions, want %d", len(ps), partitions)
	}
}

// newDirectStream is a stream of conf's hub, batches every 20 ms, retried
// as a job retries them (RetryBatch).
func newDirectStream(t *testing.T, conf *eventhubs.Conf) (*streaming.Context, *eventhubs.DirectStream) {
	t.Helper()
	ssc, err := streaming.NewContext(20*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true, Retry: sqlsink.RetryBatch})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		t.Fatal(err)
	}
	return ssc, ds
}
