package emulator

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// AMQP over WebSockets, as Event Hubs serves it: an HTTP upgrade on
// WebSocketPath with the subprotocol AMQPWSB10, then binary messages that
// carry the AMQP byte stream (protocol headers, SASL and frames, split into
// messages anyhow).
const (
	// WebSocketPath is where clients upgrade; the path with a trailing
	// slash, which the .NET SDK asks for, is served too.
	WebSocketPath = "/$servicebus/websocket"
	// WebSocketSubprotocol is the subprotocol the SDKs ask for. The AMQP
	// WebSocket binding's "amqp" is accepted as well.
	WebSocketSubprotocol = "AMQPWSB10"
)

type rawConnKey struct{}

func (s *Server) newWebSocketServer() *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(s.serveWebSocket),
		ReadHeaderTimeout: handshakeTimeout,
		// The connection under each request, for wsConn.Close.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, rawConnKey{}, c)
		},
		// Not HTTP/2: the upgrade is an HTTP/1.1 request.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelInfo),
	}
}

// serveWebSocket upgrades a request and serves the AMQP connection in it,
// as the TCP listener would, until it ends.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != WebSocketPath && r.URL.Path != WebSocketPath+"/" {
		http.Error(w, "AMQP over WebSockets is served on "+WebSocketPath, http.StatusNotFound)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{WebSocketSubprotocol, "amqp"},
		OriginPatterns: s.cfg.WebSocketOrigins,
	})
	if err != nil {
		// Accept has answered the request with the reason.
		s.log.Info("WebSocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	raw, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	nc := &wsConn{Conn: websocket.NetConn(context.Background(), ws, websocket.MessageBinary), raw: raw}
	c, ok := s.register(nc)
	if !ok {
		return
	}
	s.run(c)
}

// wsConn is a WebSocket as a net.Conn whose Close never waits on the
// client for long.
type wsConn struct {
	net.Conn          // websocket.NetConn
	raw      net.Conn // the HTTP connection under it

	closeOnce sync.Once
	closeErr  error
}

// Close closes the WebSocket with a close handshake, which waits for the
// client's answer; when none comes within closeGrace (a client that reads
// nothing), the connection under it is closed.
func (w *wsConn) Close() error {
	w.closeOnce.Do(func() {
		done := make(chan error, 1)
		go func() { done <- w.Conn.Close() }()
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case w.closeErr = <-done:
		case <-t.C:
			if w.raw != nil {
				w.raw.Close()
			}
			w.closeErr = <-done
		}
	})
	return w.closeErr
}
