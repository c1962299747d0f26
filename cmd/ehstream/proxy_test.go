package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

// connectProxy is an HTTP proxy that only tunnels (CONNECT), as corporate
// proxies for HTTPS do, and logs each tunnel: its target when it opens,
// the bytes each way when it closes. It resolves the names in hosts
// itself, as a proxy resolves names its clients cannot: a client that
// reaches such a name went through it.
type connectProxy struct {
	addr  string
	hosts map[string]string

	mu    sync.Mutex
	log   []string
	conns []net.Conn
}

func startConnectProxy(t *testing.T, hosts map[string]string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String(), hosts: hosts}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns { // hijacked: Close does not close them
			c.Close()
		}
	})
	return p
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ip, ok := p.hosts[host]; ok {
		host = ip
	}
	server, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	client, buffered, err := w.(http.Hijacker).Hijack()
	if err != nil {
		server.Close()
		return
	}
	p.note(fmt.Sprintf("tunnel to %s opened", r.Host), client, server)
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		client.Close()
		server.Close()
		return
	}
	up := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(server, buffered) // what the client sent, buffered or not
		server.(*net.TCPConn).CloseWrite()
		up <- n
	}()
	down, _ := io.Copy(client, server)
	client.Close()
	server.Close()
	p.note(fmt.Sprintf("tunnel to %s closed: %d bytes up, %d down", r.Host, <-up, down))
}

func (p *connectProxy) note(line string, conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, line)
	p.conns = append(p.conns, conns...)
}

// lines is the proxy's log so far.
func (p *connectProxy) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// proxyTestHost is the name the emulator is reached by through the proxy:
// a reserved name (RFC 6761) that no resolver knows, and that the proxy
// resolves; the emulator's certificate is for it. (localhost and loopback
// addresses are never proxied: Go's proxy rules leave them out.)
const proxyTestHost = "eventhubs.test"

// TestWebSocketsThroughProxy: `ehstream send`, `read` and `stream` with
// --transport websockets and HTTPS_PROXY set write and read every event
// through a CONNECT proxy, whose log shows the tunnels to the emulator's
// WebSocket address; without the variable they connect directly and the
// proxy sees nothing; with NO_PROXY naming the host, the proxy is not used.
// The child processes trust the emulator's CA through SSL_CERT_FILE.
func TestWebSocketsThroughProxy(t *testing.T) {
	ss, err := emulator.SelfSignedTLS("", []string{proxyTestHost})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ss.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{TLS: ss.ServerConfig(), WebSocketListen: "127.0.0.1:0",
		Hubs: []emulator.HubConfig{{Name: "px", PartitionCount: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_, wsPort, _ := net.SplitHostPort(srv.WebSocketAddr())
	proxy := startConnectProxy(t, map[string]string{proxyTestHost: "127.0.0.1"})
	connStr := func(host string) string {
		return "Endpoint=sb://" + host + ":" + wsPort + "/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=px"
	}
	trust := "SSL_CERT_FILE=" + caFile
	viaProxy := childEnv(trust, "HTTPS_PROXY=http://"+proxy.addr)

	const perPartition = 500
	wsArgs := []string{"--transport", "websockets", "--connection-string", connStr(proxyTestHost)}
	sendProxiedLines(t, viaProxy, perPartition, wsArgs)
	tunnels := tunnelsTo(proxy, proxyTestHost+":"+wsPort)
	if tunnels == 0 {
		t.Fatalf("send went through no tunnel to %s:%s; the proxy's log: %q", proxyTestHost, wsPort, proxy.lines())
	}
	readsAll(t, viaProxy, 2*perPartition, wsArgs)
	sink := "sqlite:" + filepath.Join(t.TempDir(), "px.db")
	code, out, errOut, took := runBinary(t, viaProxy, "", append([]string{"stream", "--sink", sink, "--http", "", "--until-idle", "--batch-interval", "20ms"}, wsArgs...)...)
	if want := fmt.Sprintf("wrote %d events", 2*perPartition); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("stream through the proxy: exit %d, stdout %q, stderr:\n%s\nwant %q", code, out, errOut, want)
	}
	t.Logf("stream: %q in %s", out, took.Round(time.Millisecond))
	if n := tunnelsTo(proxy, proxyTestHost+":"+wsPort); n < tunnels+2 {
		t.Fatalf("read and stream opened %d more tunnels, want at least 2; the proxy's log: %q", n-tunnels, proxy.lines())
	}
	waitForClosedTunnels(t, proxy)
	for _, l := range proxy.lines() {
		t.Logf("proxy: %s", l)
	}

	// Without the variable: straight to the emulator, by a name that
	// resolves. With NO_PROXY naming the host: not through the proxy,
	// which the name then cannot be reached without.
	seen := len(proxy.lines())
	direct := []string{"--transport", "websockets", "--connection-string", connStr("localhost")}
	readsAll(t, childEnv(trust), 2*perPartition, direct)
	code, _, errOut, took = runBinary(t, childEnv(trust, "HTTPS_PROXY=http://"+proxy.addr, "NO_PROXY="+proxyTestHost), "",
		append([]string{"info", "--operation-timeout", "5s"}, wsArgs...)...)
	t.Logf("info with NO_PROXY=%s: exit %d in %s: %s", proxyTestHost, code, took.Round(time.Millisecond), strings.TrimSpace(errOut))
	if code != 1 || !strings.Contains(errOut, proxyTestHost) {
		t.Errorf("info with NO_PROXY=%s: exit %d after %s, stderr %q; want a failure to reach %s directly", proxyTestHost, code, took, errOut, proxyTestHost)
	}
	if got := proxy.lines(); len(got) != seen {
		t.Errorf("the proxy saw connections it should not have: %q", got[seen:])
	}
}

// sendLines sends n lines to each partition of the hub with `ehstream
// send`, bodies "p<partition>-<i>".
func sendProxiedLines(t *testing.T, env []string, n int, args []string) {
	t.Helper()
	for _, id := range []string{"0", "1"} {
		var lines strings.Builder
		for i := range n {
			fmt.Fprintf(&lines, "p%s-%d\n", id, i)
		}
		code, out, errOut, took := runBinary(t, env, lines.String(), append([]string{"send", "--partition", id}, args...)...)
		if want := fmt.Sprintf("sent %d events", n); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("send --partition %s: exit %d, stdout %q, stderr:\n%s\nwant %q", id, code, out, errOut, want)
		}
		t.Logf("send --partition %s: %s in %s", id, strings.TrimSpace(out), took.Round(time.Millisecond))
	}
}

// readsAll reads the whole hub with `ehstream read --all` and checks that
// it holds n events with the bodies sendLines sent.
func readsAll(t *testing.T, env []string, n int, args []string) {
	t.Helper()
	code, out, errOut, took := runBinary(t, env, "", append([]string{"read", "--all"}, args...)...)
	evs := readLinesJSON(t, out)
	t.Logf("read --all: %d events in %s", len(evs), took.Round(time.Millisecond))
	if code != 0 || len(evs) != n {
		t.Fatalf("read --all: exit %d, %d events, stderr:\n%s\nwant %d events", code, len(evs), errOut, n)
	}
	for _, e := range evs {
		if want := fmt.Sprintf("p%s-%v", e["partition"], e["sequenceNumber"]); e["body"] != want {
			t.Fatalf("read an event with body %v, want %q: %v", e["body"], want, e)
		}
	}
}

// tunnelsTo counts the tunnels the proxy opened to target.
func tunnelsTo(p *connectProxy, target string) int {
	n := 0
	for _, l := range p.lines() {
		if l == "tunnel to "+target+" opened" {
			n++
		}
	}
	return n
}

// waitForClosedTunnels waits until every tunnel the proxy opened has
// closed (the commands have exited), each having carried bytes both ways.
func waitForClosedTunnels(t *testing.T, p *connectProxy) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		opened, closed := 0, 0
		for _, l := range p.lines() {
			switch {
			case strings.HasSuffix(l, " opened"):
				opened++
			case strings.Contains(l, " 0 bytes"):
				t.Fatalf("a tunnel carried nothing one way: %q", l)
			case strings.Contains(l, " closed: "):
				closed++
			}
		}
		if opened == closed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tunnels still open 10s after the commands exited: %q", opened-closed, opened, p.lines())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
