package emulator_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/coder/websocket"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// wsDialer is the Go SDK's NewWebSocketConn for the emulator's WebSocket
// URL, trusting tlsConfig's CAs over wss. Each connection's negotiated
// subprotocol is stored in subprotocol.
func wsDialer(url string, tlsConfig *tls.Config, subprotocol *atomic.Value) func(context.Context, azeventhubs.WebSocketConnParams) (net.Conn, error) {
	return func(ctx context.Context, args azeventhubs.WebSocketConnParams) (net.Conn, error) {
		if !strings.HasSuffix(args.Host, "/$servicebus/websocket") {
			return nil, fmt.Errorf("the SDK asks for %q", args.Host)
		}
		opts := &websocket.DialOptions{Subprotocols: []string{emulator.WebSocketSubprotocol}}
		if tlsConfig != nil {
			opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
		}
		c, _, err := websocket.Dial(ctx, url, opts)
		if err != nil {
			return nil, err
		}
		subprotocol.Store(c.Subprotocol())
		return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
	}
}

// TestWebSocketGoSDK: the official Go SDK over WebSockets, plain and over
// TLS (verifying the certificate), sends, receives and reads properties.
func TestWebSocketGoSDK(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "ws", true: "wss"}[useTLS]
		t.Run(name, func(t *testing.T) {
			cfg := &emulator.Config{WebSocketListen: "127.0.0.1:0"}
			var srv *emulator.Server
			var cs string
			var clientTLS *tls.Config
			if useTLS {
				var ss *emulator.SelfSigned
				srv, ss = startTLS(t, cfg)
				cs, clientTLS = srv.TLSConnectionString(""), ss.ClientConfig("")
			} else {
				srv = start(t, cfg)
				cs = srv.ConnectionString("")
			}
			url := srv.WebSocketURL()
			_, port, _ := net.SplitHostPort(srv.WebSocketAddr())
			if want := name + "://" + map[bool]string{false: "127.0.0.1", true: "localhost"}[useTLS] + ":" + port + "/$servicebus/websocket"; url != want {
				t.Fatalf("WebSocket URL %q, want %q", url, want)
			}
			ls := srv.Listeners()
			if last := ls[len(ls)-1]; last.Transport != name || last.Addr != srv.WebSocketAddr() || last.TLS() != useTLS {
				t.Fatalf("listeners %+v: want %s at %s last", ls, name, srv.WebSocketAddr())
			}
			ctx := testCtx(t, 60*time.Second)
			var sub atomic.Value
			dial := wsDialer(url, clientTLS, &sub)
			p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "eh1", &azeventhubs.ProducerClientOptions{NewWebSocketConn: dial})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			// Larger than a frame and than a WebSocket message of the client.
			big := strings.Repeat("x", 200<<10)
			sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
				&azeventhubs.EventData{Body: []byte("ws-0")}, &azeventhubs.EventData{Body: []byte(big)})
			if sub.Load() != emulator.WebSocketSubprotocol {
				t.Fatalf("subprotocol %q, want %s", sub.Load(), emulator.WebSocketSubprotocol)
			}
			c, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "eh1", azeventhubs.DefaultConsumerGroup, &azeventhubs.ConsumerClientOptions{NewWebSocketConn: dial})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			pp, err := c.GetPartitionProperties(ctx, "0", nil)
			if err != nil || pp.LastEnqueuedSequenceNumber != 1 {
				t.Fatalf("partition properties: %+v %v", pp, err)
			}
			pc, err := c.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close(context.Background())
			evs := receive(t, ctx, pc, 2)
			if string(evs[0].Body) != "ws-0" || string(evs[1].Body) != big {
				t.Fatalf("received %q and %d bytes", evs[0].Body, len(evs[1].Body))
			}
		})
	}
}

// TestWebSocketRefusals: other paths are not found, requests that are not
// upgrades are refused, and a web page of another origin may not connect.
func TestWebSocketRefusals(t *testing.T) {
	srv := start(t, &emulator.Config{WebSocketListen: "127.0.0.1:0", WebSocketOrigins: []string{"allowed.test"}})
	base := "http://" + srv.WebSocketAddr()
	for path, want := range map[string]int{"/": 404, "/$servicebus/other": 404, "/$servicebus/websocket": http.StatusUpgradeRequired} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, want)
		}
	}
	ctx := testCtx(t, 20*time.Second)
	for origin, ok := range map[string]bool{"http://evil.test": false, "http://allowed.test": true, "": true} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		// With the trailing slash the .NET SDK uses.
		c, resp, err := websocket.Dial(ctx, "ws://"+srv.WebSocketAddr()+"/$servicebus/websocket/", &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"other", emulator.WebSocketSubprotocol}})
		if (err == nil) != ok {
			t.Errorf("origin %q: %v, want allowed %v", origin, err, ok)
		}
		if !ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
			t.Errorf("origin %q: %v, want 403", origin, resp)
		}
		if c != nil {
			if c.Subprotocol() != emulator.WebSocketSubprotocol {
				t.Errorf("subprotocol %q, want %s", c.Subprotocol(), emulator.WebSocketSubprotocol)
			}
			c.CloseNow()
		}
	}
}

// TestWebSocketCloseIsBounded: a WebSocket client that stops reading holds
// up Close no longer than a TCP one does (no waiting out the WebSocket
// close handshake).
func TestWebSocketCloseIsBounded(t *testing.T) {
	srv, err := emulator.Start(context.Background(), &emulator.Config{WebSocketListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 20*time.Second)
	c, _, err := websocket.Dial(ctx, srv.WebSocketURL(), &websocket.DialOptions{Subprotocols: []string{emulator.WebSocketSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
	nc.Write(amqp.HeaderAMQP[:])
	fr := amqp.NewFrameReader(nc, 1<<20)
	if h, err := fr.ReadHeader(); err != nil || h != amqp.HeaderAMQP {
		t.Fatalf("protocol header over WebSockets: %q %v", h, err)
	}
	// The client reads nothing from here on.
	began := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("Close took %s with a WebSocket client that does not read", took)
	}
}

// hostTransport sends every request with Host set to host, as a browser
// does for a name that resolves to the server's address.
type hostTransport struct {
	host string
	rt   http.RoundTripper
}

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return h.rt.RoundTrip(r)
}

// TestWebSocketRefusesForeignHostAndSubprotocol: an upgrade whose Host is
// not a name of the emulator (a page of evil.example, a name resolving to
// 127.0.0.1, whose Origin then matches its Host) is refused with 403, over
// ws:// and wss://; an upgrade that does not offer AMQPWSB10 gets 400;
// neither gets a 101 or an AMQP connection. The emulator's names, and
// AMQPWSB10 among other subprotocols, are served.
func TestWebSocketRefusesForeignHostAndSubprotocol(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	for _, useTLS := range []bool{false, true} {
		cfg := &emulator.Config{WebSocketListen: "127.0.0.1:0"}
		var srv *emulator.Server
		var rt http.RoundTripper = http.DefaultTransport
		if useTLS {
			var ss *emulator.SelfSigned
			srv, ss = startTLS(t, cfg)
			rt = &http.Transport{TLSClientConfig: ss.ClientConfig("localhost")}
		} else {
			srv = start(t, cfg)
		}
		_, port, _ := net.SplitHostPort(srv.WebSocketAddr())
		type tc struct {
			host         string
			origin       string
			subprotocols []string
			code         int // 101: served
		}
		cases := []tc{
			{"evil.example:" + port, "http://evil.example:" + port, []string{emulator.WebSocketSubprotocol}, http.StatusForbidden},
			{"evil.example:" + port, "", []string{emulator.WebSocketSubprotocol}, http.StatusForbidden},
			{"127.0.0.1.nip.io:" + port, "", []string{emulator.WebSocketSubprotocol}, http.StatusForbidden},
			{"localhost:" + port, "", nil, http.StatusBadRequest},
			{"localhost:" + port, "", []string{"amqp"}, http.StatusBadRequest},
			{"localhost:" + port, "", []string{"AMQPWSB1", "mqtt"}, http.StatusBadRequest},
			{"localhost:" + port, "http://localhost:" + port, []string{"mqtt", emulator.WebSocketSubprotocol}, http.StatusSwitchingProtocols},
			{"127.0.0.1:" + port, "", []string{emulator.WebSocketSubprotocol}, http.StatusSwitchingProtocols},
			{"[::1]:" + port, "", []string{emulator.WebSocketSubprotocol}, http.StatusSwitchingProtocols},
		}
		for _, c := range cases {
			h := http.Header{}
			if c.origin != "" {
				h.Set("Origin", c.origin)
			}
			url := strings.Replace(srv.WebSocketURL(), "localhost", "127.0.0.1", 1)
			ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: c.subprotocols,
				HTTPClient: &http.Client{Transport: hostTransport{c.host, rt}}})
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			if code != c.code {
				t.Errorf("TLS %v, Host %s, Origin %q, subprotocols %q: %d %v, want %d", useTLS, c.host, c.origin, c.subprotocols, code, err, c.code)
			}
			if ws == nil {
				continue
			}
			// Served: the AMQP connection answers.
			nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
			nc.Write(amqp.HeaderAMQP[:])
			if h, err := amqp.NewFrameReader(nc, 1<<20).ReadHeader(); err != nil || h != amqp.HeaderAMQP {
				t.Errorf("Host %s: protocol header %q %v", c.host, h, err)
			}
			ws.CloseNow()
		}
	}
}
