package sqlsink_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/pgtest"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

// replyDropper relays PostgreSQL's protocol between clients and a server.
// Armed, it lets the next COMMIT through, swallows the server's reply and
// closes the client's connection: the transaction committed, and the
// client never hears of it. The server sees what a backend terminated
// while its COMMIT waited for a synchronous standby sends its client (a
// warning, then the connection closes), or a failover between the commit
// and its reply.
type replyDropper struct {
	ln      net.Listener
	server  string
	armed   atomic.Bool
	dropped atomic.Int32
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func startReplyDropper(t *testing.T, server string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &replyDropper{ln: ln, server: server}
	d.wg.Go(d.accept)
	t.Cleanup(func() {
		ln.Close()
		d.mu.Lock()
		for _, c := range d.conns {
			c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
	return d
}

// via is url with the dropper in place of its server.
func (d *replyDropper) via(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = d.ln.Addr().String()
	return p.String()
}

func (d *replyDropper) accept() {
	for {
		client, err := d.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", d.server)
		if err != nil {
			client.Close()
			continue
		}
		d.mu.Lock()
		d.conns = append(d.conns, client, server)
		d.mu.Unlock()
		var swallow atomic.Bool
		d.wg.Go(func() { d.toServer(client, server, &swallow) })
		d.wg.Go(func() {
			// Once a reply is to be swallowed, the server's next bytes are
			// it: the client sends COMMIT only once it had every byte
			// before.
			buf := make([]byte, 32<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && swallow.Load() {
					d.dropped.Add(1)
					client.Close()
					server.Close()
					return
				}
				if n > 0 {
					if _, err := client.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					client.Close()
					return
				}
			}
		})
	}
}

// toServer relays the client's messages, each looked at for an armed
// COMMIT: the startup message (a length, then the body), then typed ones
// (a type byte, a length, the body).
func (d *replyDropper) toServer(client, server net.Conn, swallow *atomic.Bool) {
	defer server.Close()
	r := bufio.NewReader(client)
	for head := make([]byte, 4); ; head = make([]byte, 5) {
		if _, err := io.ReadFull(r, head); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[len(head)-4:])-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if len(head) == 5 && head[0] == 'Q' && strings.EqualFold(strings.TrimRight(string(body), "\x00; "), "commit") && d.armed.CompareAndSwap(true, false) {
			swallow.Store(true)
		}
		if _, err := server.Write(append(head, body...)); err != nil {
			return
		}
	}
}

// postgresBehindDropper is a fresh database and its URL through a reply
// dropper; the test is skipped without $EHSTREAM_TEST_POSTGRES.
func postgresBehindDropper(t *testing.T) (direct, proxied string, d *replyDropper) {
	t.Helper()
	direct = pgtest.Fresh(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	d = startReplyDropper(t, u.Host)
	return direct, d.via(t, direct), d
}

// A connection lost while COMMIT waits for its reply is transient: the
// batch runs again, and its retry finds out whether the commit landed.
func TestLostCommitReplyIsTransient(t *testing.T) {
	direct, proxied, d := postgresBehindDropper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", proxied)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	d.armed.Store(true)
	err = tx.Commit()
	if err == nil || d.dropped.Load() != 1 {
		t.Fatalf("Commit = %v with %d replies dropped; want an error, the reply lost", err, d.dropped.Load())
	}
	if !sqlsink.Transient(err) {
		t.Errorf("Transient(%v (%T)) = false, want true: the connection was lost", err, err)
	}
	check, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var n int
	if err := check.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("the table holds %d rows (%v), want the committed one", n, err)
	}
}

// A batch whose COMMIT landed though its reply was lost runs again
// (RetryBatch); the retry finds its positions committed and counts the
// batch done, instead of failing the job as a repeated batch. Every event
// is in the table once.
func TestStreamGoesOnAfterALostCommitReply(t *testing.T) {
	direct, proxied, d := postgresBehindDropper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const partitions, perPartition = 2, 150
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "lost", PartitionCount: partitions}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()) })
	send(t, ctx, srv.ConnectionString("lost"), partitions, perPartition)

	sk, err := sqlsink.Open(ctx, proxied, "events")
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	conf := eventhubs.NewConf(srv.ConnectionString("lost")).SetMaxRatePerPartition(50).
		SetReceiverTimeout(5 * time.Second).SetOperationTimeout(10 * time.Second)
	job, err := offsets.JobFor("lost", conf)
	if err != nil {
		t.Fatal(err)
	}
	ssc, ds := newDirectStream(t, conf)
	ds.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error { return sk.WriteBatch(ctx, job, rdd) })
	var mu sync.Mutex
	var failures []error
	ssc.AddListener(listener{
		completed: func(b streaming.BatchInfo) {
			if b.Events > 0 && b.Number == 1 {
				d.armed.Store(true) // the next batch's reply is lost
			}
		},
		failed: func(f streaming.BatchFailure) { mu.Lock(); failures = append(failures, f.Err); mu.Unlock() },
	})
	done, finished := make(chan error, 1), make(chan struct{})
	go func() { done <- ssc.Run(ctx); close(finished) }()
	t.Cleanup(func() { ssc.Stop(false); <-finished })

	check, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var rows, distinct int
	count := func() {
		t.Helper()
		if err := check.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT (partition_id, sequence_number)) FROM events").Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(40 * time.Second)
	for count(); rows < partitions*perPartition; count() {
		select {
		case err := <-done:
			t.Fatalf("the job stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 40s the table holds %d of the %d events", rows, partitions*perPartition)
		}
	}
	ssc.Stop(true)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	count()
	if rows != partitions*perPartition || distinct != rows {
		t.Errorf("the table holds %d rows, %d distinct events; want each of the %d events once", rows, distinct, partitions*perPartition)
	}
	mu.Lock()
	defer mu.Unlock()
	if d.dropped.Load() != 1 || len(failures) != 1 || !sqlsink.Transient(failures[0]) {
		t.Errorf("%d replies dropped, failures heard %v; want one reply lost, one transient failure, retried", d.dropped.Load(), failures)
	}
}

// send puts n events in each of the hub's partitions.
func send(t *testing.T, ctx context.Context, connStr string, partitions, n int) {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for part := range partitions {
		id := fmt.Sprint(part)
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &id})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "p%d-%d", part, i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// listener hears of completed and failed batches.
type listener struct {
	completed func(streaming.BatchInfo)
	failed    func(streaming.BatchFailure)
}

func (l listener) OnBatchCompleted(b streaming.BatchInfo) { l.completed(b) }
func (l listener) OnBatchFailed(f streaming.BatchFailure) { l.failed(f) }
