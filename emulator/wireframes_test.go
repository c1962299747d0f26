package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
)

// recordingProxy forwards TCP connections to the emulator and records
// every byte the emulator writes, one buffer per connection.
type recordingProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn      // both ends of every connection, to end them
	record []*bytes.Buffer // what the emulator wrote, per connection
}

func startRecordingProxy(t testing.TB, target string) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { p.stop(time.Second) })
	return p
}

func (p *recordingProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		rec := &bytes.Buffer{}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.record = append(p.record, rec)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client)
			server.(*net.TCPConn).CloseWrite()
		}()
		go func() {
			defer p.wg.Done()
			p.copyRecorded(client, server, rec)
		}()
	}
}

// copyRecorded reads what the emulator writes until it closes, recording
// all of it even after the client went away: the frames the emulator
// writes as a connection closes are checked too.
func (p *recordingProxy) copyRecorded(client, server net.Conn, rec *bytes.Buffer) {
	buf := make([]byte, 64<<10)
	clientGone := false
	for {
		n, err := server.Read(buf)
		if n > 0 {
			p.mu.Lock()
			rec.Write(buf[:n])
			p.mu.Unlock()
			if !clientGone {
				_, werr := client.Write(buf[:n])
				clientGone = werr != nil
			}
		}
		if err != nil {
			client.(*net.TCPConn).CloseWrite()
			return
		}
	}
}

// stop waits up to grace for the connections to end by themselves, then
// ends them, and returns the recordings.
func (p *recordingProxy) stop(grace time.Duration) (recorded [][]byte, endedByThemselves bool) {
	p.ln.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		endedByThemselves = true
	case <-time.After(grace):
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		<-done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range p.record {
		recorded = append(recorded, bytes.Clone(rec.Bytes()))
	}
	return recorded, endedByThemselves
}

// TestEveryFrameHasEveryField records a whole session of the official Go
// SDK (SASL, CBS, management, send, receive, a refused link, close) and
// reads every frame the emulator wrote with the strict reader of
// wirecheck_test.go: each performative carries all the fields the
// specification defines, as the service writes them, for SDKs that read
// fields by position.
func TestEveryFrameHasEveryField(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	proxy := startRecordingProxy(t, srv.Addr())
	cs := strings.Replace(srv.ConnectionString(""), srv.Addr(), proxy.ln.Addr().String(), 1)

	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatalf("hub properties: %v", err)
	}
	if _, err := p.GetPartitionProperties(ctx, "0", nil); err != nil {
		t.Fatalf("partition properties: %v", err)
	}
	// The large event takes two transfer frames of the client's 64 KiB, so
	// continuation frames are read too.
	large := bytes.Repeat([]byte{'L'}, 100<<10)
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("a")}, &azeventhubs.EventData{Body: []byte("b")})
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: large})

	c, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "eh1", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if evs := receive(t, ctx, pc, 3); !bytes.Equal(evs[2].Body, large) {
		t.Fatalf("third event has %d bytes, want the %d sent", len(evs[2].Body), len(large))
	}
	if err := pc.Close(ctx); err != nil {
		t.Fatalf("close partition client: %v", err)
	}
	// A refused attach: the emulator answers it with an attach and a detach
	// carrying the error.
	bad, err := c.NewPartitionClient("99", nil)
	if err != nil {
		t.Fatal(err)
	}
	badCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if _, err := bad.ReceiveEvents(badCtx, 1, nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("receive from partition 99: %v, want the emulator's refusal", err)
	}
	cancel()
	bad.Close(ctx)
	if err := p.Close(ctx); err != nil {
		t.Fatalf("close producer: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close consumer: %v", err)
	}

	recorded, ended := proxy.stop(10 * time.Second)
	if !ended {
		t.Errorf("connections still open 10 s after the clients closed")
	}
	if len(recorded) < 2 {
		t.Fatalf("%d connections recorded, want the producer's and the consumer's", len(recorded))
	}
	seen := map[string]int{}
	faults := map[string][]string{} // fault → where, to report each kind once
	deliveries, detachErrors := 0, 0
	for i, stream := range recorded {
		frames, bad, err := readServerStream(stream)
		if err != nil {
			t.Errorf("connection %d: %v", i, err)
		}
		for _, b := range bad {
			msg := b.err.Error()
			faults[msg] = append(faults[msg], fmt.Sprintf("%d/%d", i, b.frame))
		}
		for _, f := range frames {
			seen[f.def.name]++
		}
		d, e := checkFrames(t, i, frames)
		deliveries, detachErrors = deliveries+d, detachErrors+e
	}
	for msg, where := range faults {
		t.Errorf("%s: %d frames (connection/frame %s)", msg, len(where), strings.Join(where[:min(len(where), 3)], " "))
	}
	for _, def := range performativeDefs {
		if seen[def.name] == 0 && len(faults) == 0 {
			t.Errorf("the session had no %s from the emulator, so it was not checked", def.name)
		}
	}
	// 3 events, plus a response to each CBS and management request.
	if deliveries < 3+2 {
		t.Errorf("%d deliveries read, want at least 5", deliveries)
	}
	if detachErrors == 0 {
		t.Errorf("no detach carried an error, so no error composite was checked")
	}
	t.Logf("checked %v; %d deliveries, %d detaches with an error", seen, deliveries, detachErrors)
}

// checkFrames checks the fields that the positional SDKs read with care:
// attach's max-message-size (field 10) must be set, and each transfer's
// payload must begin right after its 11 fields. It reassembles the
// deliveries and decodes them with go-amqp: a payload read from the wrong
// position would not decode. It returns how many deliveries it read, and
// how many detaches carried an error.
func checkFrames(t *testing.T, conn int, frames []wireFrame) (deliveries, detachErrors int) {
	t.Helper()
	type linkKey struct {
		channel uint16
		handle  uint64
	}
	partial := map[linkKey][]byte{}
	for i, f := range frames {
		switch f.def.name {
		case "detach":
			if !f.fields[2].isNull() {
				detachErrors++ // read in full by readPerformative
			}
		case "attach":
			if size, ok := f.fields[10].uint(); !ok || size == 0 {
				t.Errorf("connection %d frame %d: attach max-message-size % x, want a non-zero ulong", conn, i, f.fields[10].raw)
			}
		case "transfer":
			handle, ok := f.fields[0].uint()
			if !ok {
				t.Errorf("connection %d frame %d: transfer handle % x", conn, i, f.fields[0].raw)
				continue
			}
			more, err := f.fields[5].bool()
			if err != nil {
				t.Errorf("connection %d frame %d: transfer more: %v", conn, i, err)
				continue
			}
			key := linkKey{f.channel, handle}
			first := partial[key] == nil
			if first && f.fields[1].isNull() {
				t.Errorf("connection %d frame %d: first transfer of a delivery without a delivery-id", conn, i)
			}
			if first && (len(f.payload) < 3 || f.payload[0] != 0x00 || f.payload[1] != 0x53 || f.payload[2] < 0x70 || f.payload[2] > 0x78) {
				t.Errorf("connection %d frame %d: payload after the 11 fields begins % x, not with a message section", conn, i, f.payload[:min(len(f.payload), 8)])
			}
			partial[key] = append(partial[key], f.payload...)
			if more {
				continue
			}
			var m goamqp.Message
			if err := m.UnmarshalBinary(partial[key]); err != nil {
				t.Errorf("connection %d frame %d: delivery of %d bytes does not decode: %v", conn, i, len(partial[key]), err)
			}
			delete(partial, key)
			deliveries++
		}
	}
	for key, rest := range partial {
		t.Errorf("connection %d: delivery on channel %d handle %d left unfinished with %d bytes", conn, key.channel, key.handle, len(rest))
	}
	return deliveries, detachErrors
}
