package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/coder/websocket"
	"github.com/ehstream/ehstream/emulator"
)

// inProcessEmulator is `ehstream emulator` run by the run function, with
// what it printed until it said it was ready.
type inProcessEmulator struct {
	out    string // stdout up to "press Ctrl-C to stop"
	stderr *lockedBuffer
	stop   func() int // stops it as Ctrl-C does; its exit code
}

func runEmulatorInProcess(t *testing.T, args ...string) *inProcessEmulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	e := &inProcessEmulator{stderr: &lockedBuffer{}}
	exited := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"emulator"}, args...), stdio{in: strings.NewReader(""), out: pw, err: e.stderr})
		pw.Close()
		exited <- code
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	timeout := time.After(60 * time.Second)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				cancel()
				t.Fatalf("ehstream emulator %v exited %d before it was ready:\n%s%s", args, <-exited, out.String(), e.stderr)
			}
			out.WriteString(l + "\n")
			ready = l == "press Ctrl-C to stop"
		case <-timeout:
			cancel()
			t.Fatalf("ehstream emulator %v not ready within 60s:\n%s%s", args, out.String(), e.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	e.out = out.String()
	var code *int
	e.stop = func() int {
		if code == nil {
			cancel()
			c := <-exited
			code = &c
		}
		return *code
	}
	t.Cleanup(func() { e.stop() })
	return e
}

// printed returns the first group of re in what the emulator printed.
func (e *inProcessEmulator) printed(t *testing.T, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(e.out)
	if m == nil {
		t.Fatalf("the emulator printed no line matching %s:\n%s", re, e.out)
	}
	return m[1]
}

// trustCA is a client TLS configuration trusting the CA in file alone.
func trustCA(t *testing.T, file string) *tls.Config {
	t.Helper()
	pemData, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("%s holds no PEM certificate", file)
	}
	// The Go SDK names the server localhost:PORT when the endpoint has a
	// port: say which name to verify.
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// TestEmulatorTLSCommand: `ehstream emulator --tls-self-signed` prints the
// CA file it wrote and a TLS connection string, which the Go SDK uses with
// certificate verification, over TLS and over WebSockets with TLS.
func TestEmulatorTLSCommand(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "emulator-ca.pem")
	e := runEmulatorInProcess(t, "--in-memory", "--tls-self-signed", "--tls-ca-out", caFile,
		"--tls-listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0")
	if got := e.printed(t, `(?m)^CA certificate: +(\S+)`); got != caFile {
		t.Fatalf("printed CA file %q, want %q", got, caFile)
	}
	tlsAddr := e.printed(t, `(?m)^TLS \(amqps\): +(\S+)`)
	_, port, _ := net.SplitHostPort(tlsAddr)
	cs := e.printed(t, `(?m)^connection string \(TLS\): (\S+)`)
	if want := "Endpoint=sb://localhost:" + port + "/;SharedAccessKeyName="; !strings.HasPrefix(cs, want) || strings.Contains(cs, "UseDevelopmentEmulator") {
		t.Fatalf("TLS connection string %q: want it to start %q, without UseDevelopmentEmulator", cs, want)
	}
	if plain := e.printed(t, `(?m)^connection string: (\S+)`); !strings.HasSuffix(plain, "UseDevelopmentEmulator=true") {
		t.Fatalf("plain connection string %q", plain)
	}
	wsURL := e.printed(t, `(?m)^WebSockets: +(\S+)`)
	if !regexp.MustCompile(`^wss://localhost:\d+/\$servicebus/websocket$`).MatchString(wsURL) {
		t.Fatalf("WebSocket URL %q", wsURL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	trust := trustCA(t, caFile)
	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "eh1", &azeventhubs.ProducerClientOptions{TLSConfig: trust})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")})
	if err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	batch.AddEventData(&azeventhubs.EventData{Body: []byte("over-tls")}, nil)
	if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}

	// Over WebSockets with TLS, the same CA.
	wsDial := func(ctx context.Context, _ azeventhubs.WebSocketConnParams) (net.Conn, error) {
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
			Subprotocols: []string{emulator.WebSocketSubprotocol},
			HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust.RootCAs}}},
		})
		if err != nil {
			return nil, err
		}
		return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
	}
	c, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "eh1", azeventhubs.DefaultConsumerGroup, &azeventhubs.ConsumerClientOptions{NewWebSocketConn: wsDial})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	evs, err := pc.ReceiveEvents(ctx, 1, nil)
	if err != nil || len(evs) != 1 || string(evs[0].Body) != "over-tls" {
		t.Fatalf("received over WebSockets: %v %v", evs, err)
	}
	if code := e.stop(); code != 0 {
		t.Fatalf("exit %d after Ctrl-C: %s", code, e.stderr)
	}
}

// TestEmulatorTLSOtherLoopback: on a loopback address other than
// 127.0.0.1, which localhost does not reach (the way to run a second
// emulator for the Python SDK, which dials port 5671 whatever the endpoint
// says), the TLS connection string names the address, and the
// certificate is for it.
func TestEmulatorTLSOtherLoopback(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "emulator-ca.pem")
	e := runEmulatorInProcess(t, "--in-memory", "--tls-self-signed", "--tls-ca-out", caFile,
		"--tls-listen", "127.0.0.2:0", "--listen", "127.0.0.1:0")
	tlsAddr := e.printed(t, `(?m)^TLS \(amqps\): +(\S+)`)
	cs := e.printed(t, `(?m)^connection string \(TLS\): (\S+)`)
	if want := "Endpoint=sb://" + tlsAddr + "/;"; !strings.HasPrefix(cs, want) {
		t.Fatalf("TLS connection string %q: want it to start %q", cs, want)
	}
	trust := trustCA(t, caFile)
	trust.ServerName = "127.0.0.2"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", tlsAddr, trust)
	if err != nil {
		t.Fatalf("TLS to %s verifying the name 127.0.0.2: %v", tlsAddr, err)
	}
	conn.Close()
}

// TestEmulatorTLSKeepsCA: with --data, a second start serves a certificate
// from the same CA, also with a new --tls-name, so clients keep trusting
// it.
func TestEmulatorTLSKeepsCA(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	first := runEmulatorInProcess(t, "--data", dir, "--tls-self-signed", "--tls-ca-out", filepath.Join(files, "first.pem"),
		"--tls-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0")
	if note := first.printed(t, `(?m)^CA certificate: +\S+ \((.*)\)$`); !strings.HasPrefix(note, "new") {
		t.Fatalf("first start: CA %q, want a new one", note)
	}
	if code := first.stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, first.stderr)
	}

	// No --tls-ca-out: the CA file under --data is printed.
	second := runEmulatorInProcess(t, "--data", dir, "--tls-self-signed", "--tls-name", "build-agent.test",
		"--tls-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0")
	inData := filepath.Join(dir, ".tls", "ca.pem")
	if got := second.printed(t, `(?m)^CA certificate: +(\S+)`); got != inData {
		t.Fatalf("second start printed CA file %q, want %q", got, inData)
	}
	if note := second.printed(t, `(?m)^CA certificate: +\S+ \((.*)\)$`); note != "kept from an earlier start" {
		t.Fatalf("second start: CA %q, want the one kept", note)
	}
	a, _ := os.ReadFile(filepath.Join(files, "first.pem"))
	b, _ := os.ReadFile(inData)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the CA changed between starts")
	}
	// The first start's CA file verifies the second start's certificate,
	// under the new name too.
	tlsAddr := second.printed(t, `(?m)^TLS \(amqps\): +(\S+)`)
	for _, name := range []string{"localhost", "build-agent.test"} {
		cfg := trustCA(t, filepath.Join(files, "first.pem"))
		cfg.ServerName = name
		conn, err := tls.Dial("tcp", tlsAddr, cfg)
		if err != nil {
			t.Fatalf("TLS as %s with the first start's CA: %v", name, err)
		}
		conn.Close()
	}
}

// TestEmulatorTLSBadFlags: each bad TLS or WebSocket flag is an error
// naming the flag or the file, not a panic.
func TestEmulatorTLSBadFlags(t *testing.T) {
	dir := t.TempDir()
	ss, err := emulator.SelfSignedTLS(filepath.Join(dir, "ss"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(ss.Dir, "server.pem"), filepath.Join(ss.Dir, "server-key.pem")
	missing := filepath.Join(dir, "missing-key.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", cert}, "--tls-cert needs --tls-key"},
		{[]string{"--tls-key", key}, "--tls-key needs --tls-cert"},
		{[]string{"--tls-cert", cert, "--tls-key", missing}, missing},
		{[]string{"--tls-cert", ss.CAFile(), "--tls-key", key}, "private key does not match"},
		{[]string{"--tls-cert", ss.CAFile(), "--tls-key", key}, ss.CAFile()},
		{[]string{"--tls-self-signed", "--tls-cert", cert, "--tls-key", key}, "give one of them"},
		{[]string{"--tls-self-signed", "--tls-listen", "nonsense"}, `--tls-listen "nonsense"`},
		{[]string{"--tls-listen", "127.0.0.1:0"}, "--tls-listen needs a certificate"},
		{[]string{"--tls-ca-out", filepath.Join(dir, "ca.pem")}, "--tls-ca-out"},
		{[]string{"--tls-name", "x.test"}, "--tls-name"},
		{[]string{"--tls-self-signed", "--tls-name", "a b"}, `"a b"`},
		{[]string{"--ws-listen", "nonsense"}, `--ws-listen "nonsense"`},
		{[]string{"--ws-origin", "x.test"}, "--ws-origin needs --ws-listen"},
		{[]string{"--tls-self-signed", "--tls-listen", "256.1.1.1:0"}, "256.1.1.1"},
	} {
		args := append([]string{"emulator", "--in-memory", "--listen", "127.0.0.1:0"}, tc.args...)
		var out, errOut strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code := run(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		cancel()
		if code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("ehstream %v: exit %d, stderr %q; want a failure naming %s", args, code, errOut.String(), tc.want)
		}
	}
}
