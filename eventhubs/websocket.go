package eventhubs

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
	"golang.org/x/net/http/httpproxy"
)

// Where and how Event Hubs serves AMQP over WebSockets (the emulator's
// WebSocketPath and WebSocketSubprotocol): the subprotocol is the
// service's, not the "amqp" of the SDK's example, which the service
// refuses.
const (
	webSocketPath        = "/$servicebus/websocket"
	webSocketSubprotocol = "AMQPWSB10"
)

// webSocketDialer makes AMQP connections over WebSockets (SetWebSockets).
type webSocketDialer struct {
	url    string
	host   string // the HTTP Host: the namespace, wherever the URL goes
	client *http.Client
}

// newWebSocketDialer dials wss://to/$servicebus/websocket expecting the
// namespace, or ws:// when tlsConf is nil, through the proxy the
// environment names now.
//
// The proxy comes from golang.org/x/net/http/httpproxy, which is what
// http.ProxyFromEnvironment runs, with the same variables and rules
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY; never for localhost or loopback
// addresses), read when the connection's client is made rather than once
// per process, so that a program (or a test) that sets them after its
// first request is still heard.
func newWebSocketDialer(to, namespace string, tlsConf *tls.Config) *webSocketDialer {
	scheme := "wss"
	if tlsConf == nil {
		scheme = "ws"
	}
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	transport := &http.Transport{
		Proxy:           func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
		TLSClientConfig: tlsConf, // HTTP/1.1 only: the upgrade is an HTTP/1.1 request
		// Each request is one upgrade, whose connection becomes AMQP's;
		// one refused leaves nothing worth keeping open.
		DisableKeepAlives: true,
	}
	return &webSocketDialer{url: scheme + "://" + to + webSocketPath, host: namespace, client: &http.Client{Transport: transport}}
}

func (d *webSocketDialer) dial(ctx context.Context) (net.Conn, error) {
	ws, resp, err := websocket.Dial(ctx, d.url, &websocket.DialOptions{
		HTTPClient: d.client, Host: d.host, Subprotocols: []string{webSocketSubprotocol}})
	if err != nil {
		if resp != nil && refusesUpgrade(resp.StatusCode) {
			return nil, &upgradeRefusedError{status: resp.Status, err: err}
		}
		return nil, err
	}
	// Not ctx: the connection outlives the dial.
	return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
}

// upgradeRefusedError is a WebSocket upgrade the server answered with a
// status that says the endpoint is wrong (4xx), not that it is busy.
type upgradeRefusedError struct {
	status string
	err    error
}

func (e *upgradeRefusedError) Error() string { return e.err.Error() }
func (e *upgradeRefusedError) Unwrap() error { return e.err }

// refusesUpgrade: a status that no retry changes.
func refusesUpgrade(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}
