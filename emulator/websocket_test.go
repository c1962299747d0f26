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
		c, resp, err := websocket.Dial(ctx, "ws://"+srv.WebSocketAddr()+"/$servicebus/websocket/", &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"amqp"}})
		if (err == nil) != ok {
			t.Errorf("origin %q: %v, want allowed %v", origin, err, ok)
		}
		if !ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
			t.Errorf("origin %q: %v, want 403", origin, resp)
		}
		if c != nil {
			if c.Subprotocol() != "amqp" {
				t.Errorf("subprotocol %q, want amqp, the one offered", c.Subprotocol())
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
