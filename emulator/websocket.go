package emulator

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
	// WebSocketSubprotocol is the subprotocol the SDKs ask for. As on the
	// service, an upgrade that does not offer it is refused.
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
// as the TCP listener would, until it ends. The Host must name the
// emulator, as on its HTTP server: the Origin check alone lets a page
// whose name resolves to 127.0.0.1 (DNS rebinding) in, its Origin and
// Host being alike.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != WebSocketPath && r.URL.Path != WebSocketPath+"/" {
		http.Error(w, "AMQP over WebSockets is served on "+WebSocketPath, http.StatusNotFound)
		return
	}
	if err := s.CheckRequestHost(r); err != nil {
		s.log.Info("WebSocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	// A request that is no upgrade at all gets Accept's answer (426).
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && !offersSubprotocol(r, WebSocketSubprotocol) {
		err := fmt.Errorf("AMQP over WebSockets needs the subprotocol %s, and the upgrade offers %.100q (Sec-WebSocket-Protocol)",
			WebSocketSubprotocol, strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "))
		s.log.Info("WebSocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{WebSocketSubprotocol},
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

// offersSubprotocol reports whether an upgrade request lists want among
// its subprotocols (comma-separated, in one header or several),
// case-insensitively as the WebSocket library matches them.
func offersSubprotocol(r *http.Request, want string) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), want) {
				return true
			}
		}
	}
	return false
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
