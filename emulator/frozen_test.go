package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// freezeReader attaches a raw reader to partition 0 with a large credit
// and never reads: the emulator's writes to it fill the socket buffers and
// then block. It returns once the emulator has stopped getting events out
// to it.
func freezeReader(t *testing.T, srv *emulator.Server, group string) *rawClient {
	t.Helper()
	raw := dialRaw(t, srv, 32<<10)
	raw.attachReceiver(0, "eh1/ConsumerGroups/"+group+"/Partitions/0")
	raw.flow(0, 0, 100000, false, false)
	deadline := time.Now().Add(20 * time.Second)
	last, since := srv.Stats().EventsSent, time.Now()
	for time.Since(since) < 500*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("the emulator kept sending to a reader that reads nothing: %d events", last)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter
		if n := srv.Stats().EventsSent; n != last {
			last, since = n, time.Now()
		}
	}
	return raw
}

// TestFrozenReaderBlocksNoOne: a client that stops reading (a debugger,
// SIGSTOP) with a large credit outstanding makes the emulator's writes to
// it block. Everyone else goes on at full speed: producers, readers,
// management requests, and a reader with an owner level that takes the
// frozen reader's partition; and Server.Close returns within 5 s.
func TestFrozenReaderBlocksNoOne(t *testing.T) {
	// Not start(): closing the server is what this test measures. A write
	// timeout longer than the test keeps the frozen connection open.
	ctx := testCtx(t, 3*time.Minute)
	srv, err := emulator.Start(ctx, &emulator.Config{
		Hubs:         []emulator.HubConfig{{Name: "eh1", PartitionCount: 4, ConsumerGroups: []string{"cg1"}}},
		WriteTimeout: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			srv.Close()
		}
	})
	const big = 200
	fillPartition(t, ctx, srv, "eh1", "0", big, 100_000) // 20 MB, far more than socket buffers hold
	p := producer(t, srv, "eh1")
	reader := consumer(t, srv, "eh1", azeventhubs.DefaultConsumerGroup)
	pc1, err := reader.NewPartitionClient("1", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc1.Close(ctx)

	// One round of what the others do, each step within 10 s: send to every
	// partition, read partition 1, get properties, and take partition 0 in
	// group with a new owner level on a new connection and read from it.
	round := func(r int, group string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, id := range []string{"0", "1", "2", "3"} {
			events := make([]*azeventhubs.EventData, 10)
			for i := range events {
				events[i] = &azeventhubs.EventData{Body: []byte(fmt.Sprintf("round %d event %d", r, i))}
			}
			sendBatch(t, rctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(id)}, events...)
		}
		receive(t, rctx, pc1, 10)
		if _, err := p.GetPartitionProperties(rctx, "0", nil); err != nil {
			t.Fatalf("round %d: properties: %v", r, err)
		}
		c, err := azeventhubs.NewConsumerClientFromConnectionString(srv.ConnectionString(""), "eh1", group, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		owner, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{OwnerLevel: to.Ptr(int64(r + 1)),
			StartPosition: azeventhubs.StartPosition{SequenceNumber: to.Ptr(int64(big + 10*r)), Inclusive: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer owner.Close(ctx)
		if evs := receive(t, rctx, owner, 10); string(evs[0].Body) != fmt.Sprintf("round %d event 0", r) {
			t.Fatalf("round %d: the owner of partition 0 read %q first", r, evs[0].Body)
		}
	}
	rounds := func(from, to int, group string) time.Duration {
		began := time.Now()
		for r := from; r < to; r++ {
			round(r, group)
		}
		return time.Since(began)
	}

	// The same work before and while a reader is frozen; the owners take
	// partition 0 in cg1 before, and from the frozen reader in $Default.
	before := rounds(0, 4, "cg1")
	freezeReader(t, srv, azeventhubs.DefaultConsumerGroup)
	during := rounds(4, 8, azeventhubs.DefaultConsumerGroup)
	t.Logf("4 rounds took %s before a reader froze, %s while it was frozen", before.Round(time.Millisecond), during.Round(time.Millisecond))
	if during > 3*before+2*time.Second {
		t.Errorf("a frozen reader slowed everyone else down: %s for 4 rounds, %s before", during, before)
	}

	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		closed = true
		t.Logf("Close returned %v after %s", err, time.Since(began).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("Server.Close still blocked after 5s with a frozen client connected:\n%s", emulatorStacks())
	}
}

// emulatorStacks is every goroutine stack that runs emulator code.
func emulatorStacks() string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "emulator.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// syncBuffer is a log destination for a test to read while the server
// writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUnreadConnectionIsClosed: a connection whose client reads nothing
// for the write timeout is closed, and the log says why.
func TestUnreadConnectionIsClosed(t *testing.T) {
	var logs syncBuffer
	srv := start(t, &emulator.Config{WriteTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ctx := testCtx(t, 2*time.Minute)
	fillPartition(t, ctx, srv, "eh1", "0", 100, 100_000)
	raw := freezeReader(t, srv, azeventhubs.DefaultConsumerGroup)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "the client read nothing") {
		if time.Now().After(deadline) {
			t.Fatalf("no log of closing the connection within 10s; the log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the log
	}
	// The client wakes up: it finds what was sent before, then the end.
	raw.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, raw.nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection is still open")
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "the client read nothing") {
			t.Logf("log: %s", line)
		}
	}
}
