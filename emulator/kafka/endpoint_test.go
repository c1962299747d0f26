package kafka

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memBackend is a stand-in for the emulator's hubs: in-memory partition
// logs. The thing under test here is the protocol handling, not the hubs.
type memBackend struct {
	names []string
	logs  map[string][]*partlog.Log
}

func (b *memBackend) Topics() []string { return b.names }

func (b *memBackend) MaxEventSize(string) int { return testMaxEventSize }

func (b *memBackend) Appended(string, int32, int, int) {}

func (b *memBackend) Fetched(string, int32, int, int) {}

func (b *memBackend) Throttled(string, int32) <-chan struct{} { return nil }

func (b *memBackend) WriteDelay() time.Duration { return 0 }

func (b *memBackend) Topic(name string) ([]*partlog.Log, bool) {
	l, ok := b.logs[name]
	return l, ok
}

// testTopic is the one topic of a test server: two partitions, the first
// holding a few events so that fetches have something to answer.
const testTopic = "hub"

// testMaxEventSize is the test topic's largest event.
const testMaxEventSize = 1000

func newMemBackend(t testing.TB) *memBackend {
	b := &memBackend{names: []string{testTopic}, logs: map[string][]*partlog.Log{}}
	for range 2 {
		l, err := partlog.Open(partlog.Options{})
		if err != nil {
			t.Fatalf("memory log: %v", err)
		}
		t.Cleanup(func() { l.Close() })
		b.logs[testTopic] = append(b.logs[testTopic], l)
	}
	recs := []kmsg.Record{{Key: []byte("k"), Value: []byte("v0")}, {Value: []byte("v1")}}
	_, err := b.logs[testTopic][0].Append(len(recs), func(i int, m partlog.Meta, dst []byte) ([]byte, error) {
		return storedMessage(dst, &recs[i], m)
	})
	if err != nil {
		t.Fatalf("seed events: %v", err)
	}
	return b
}

// testFetchWait keeps fetches that wait for bytes that never come short.
const testFetchWait = 20 * time.Millisecond

// startTestServer serves a memBackend on a loopback port until the test
// ends.
func startTestServer(t testing.TB) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := newServer(ln, newMemBackend(t), &Options{Logger: slog.New(slog.DiscardHandler)})
	s.fetchWait = testFetchWait
	s.start()
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t testing.TB, s *Server) *net.TCPConn {
	nc, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc.(*net.TCPConn)
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("endpoint-test"))

// readResponse reads one response frame: its correlation id and body
// (after the header's tagged fields when flexible says it has them).
func readResponse(nc net.Conn, flexible bool) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return 0, nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, frame); err != nil {
		return 0, nil, err
	}
	if len(frame) < 4 || flexible && len(frame) < 5 {
		return 0, nil, errors.New("a response frame shorter than its header")
	}
	body := frame[4:]
	if flexible {
		body = body[1:] // no tagged fields are ever sent
	}
	return int32(binary.BigEndian.Uint32(frame)), body, nil
}

// roundTrip sends req on nc and decodes its answer into resp.
func roundTrip(t testing.TB, nc net.Conn, req kmsg.Request, correlation int32) kmsg.Response {
	t.Helper()
	if _, err := nc.Write(formatter.AppendRequest(nil, req, correlation)); err != nil {
		t.Fatalf("write %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	flexible := req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions)
	got, body, err := readResponse(nc, flexible)
	if err != nil {
		t.Fatalf("%s: no answer: %v", kmsg.NameForKey(req.Key()), err)
	}
	if got != correlation {
		t.Fatalf("%s: answer has correlation id %d, want %d", kmsg.NameForKey(req.Key()), got, correlation)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d: the answer does not decode: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// checkServed is a new client's first steps: ApiVersions, then Metadata
// of the test topic, both answered correctly.
func checkServed(t testing.TB, s *Server) {
	t.Helper()
	nc := dial(t, s)
	defer nc.Close()
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "endpoint-test", "1"
	if resp := roundTrip(t, nc, av, 1).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(testTopic)
	md.Topics = append(md.Topics, rt)
	resp := roundTrip(t, nc, md, 2).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("Metadata of %q: %+v", testTopic, resp.Topics)
	}
}

// TestFrameSizeAloneCostsLittle: a frame's size is a client's claim; the
// memory a frame takes follows the bytes that come, so that connections
// each claiming the largest size cost the server nothing like it.
func TestFrameSizeAloneCostsLittle(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, maxRequestSize)
	c := &conn{r: bufio.NewReader(bytes.NewReader(append(in, make([]byte, 1000)...))), access: &fullAccess}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := c.readFrame()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a frame cut short: %v, want io.ErrUnexpectedEOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("reading 1,000 bytes of a frame that claims %d allocated %d bytes; want under 1 MiB", maxRequestSize, got)
	}
}

// logLines hands the test each line the server logs.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// TestOversizedRequestLogged: a request over the service's limit closes
// the connection, as the service does, and the log says why and what to
// set, since the client sees only the connection closed.
func TestOversizedRequestLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := make(logLines, 16)
	s := Serve(ln, newMemBackend(t), &Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(func() { s.Close() })
	nc := dial(t, s)
	nc.Write(binary.BigEndian.AppendUint32(nil, maxRequestSize+1))
	var b [1]byte
	if n, err := nc.Read(b[:]); n > 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after a request of %d bytes: read %d bytes, %v; want the connection closed", maxRequestSize+1, n, err)
	}
	select {
	case got := <-logs:
		if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "request size 1046529") || !strings.Contains(got, "kgo.BrokerMaxWriteBytes") {
			t.Fatalf("the log after an oversized request: %s; want a warning with its size and the client setting to change", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing logged 5s after an oversized request")
	}
}

// TestIdleConnectionClosed: a connection that sends nothing for the idle
// timeout is closed (a TLS handshake never finished, or a client gone
// silent, would otherwise hold a goroutine and a descriptor for ever),
// one that keeps sending is not, and a new client is served after.
func TestIdleConnectionClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	const idle = 300 * time.Millisecond
	s := Serve(ln, newMemBackend(t), &Options{Logger: slog.New(slog.DiscardHandler), IdleTimeout: idle})
	t.Cleanup(func() { s.Close() })

	silent := dial(t, s)
	busy := dial(t, s)
	start := time.Now()
	for i := int32(1); time.Since(start) < 3*idle; i++ {
		roundTrip(t, busy, kmsg.NewPtrApiVersionsRequest(), i)
		time.Sleep(idle / 4) // the client's pace between requests, not a wait for the server
	}
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection silent for %s: read %v, want EOF (closed by the server)", time.Since(start).Round(time.Millisecond), err)
	}
	if n := len(s.Conns()); n != 1 {
		t.Fatalf("%d connections open after the silent one's timeout, want the busy one alone", n)
	}
	roundTrip(t, dial(t, s), kmsg.NewPtrApiVersionsRequest(), 1)
}
