package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/ehstream/ehstream/emulator/kafka"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// DefaultTLSPort is the port of AMQP over TLS (amqps), which clients dial
// when a connection string's endpoint names none.
const DefaultTLSPort = 5671

// transports are the listeners beside the plain AMQP one: AMQP over TLS
// (from the first byte, as Event Hubs serves it on 5671), and AMQP over
// WebSockets (websocket.go). Each connection they accept is served by the
// same code as a TCP one.
type transports struct {
	tlsLn    net.Listener // nil without TLS
	wsLn     net.Listener // nil without WebSockets; TLS-wrapped when TLS is set
	wsSrv    *http.Server
	wsTLS    bool
	kafka    *kafka.Server // nil without KafkaListen
	kafkaTLS *kafka.Server // nil without KafkaTLSListen
	// kafkaGroups is the Kafka consumer groups' coordinator, shared by the
	// Kafka listeners; nil without a Kafka listener.
	kafkaGroups *kafka.Groups
}

// Listener is one address the server accepts clients on.
type Listener struct {
	// Transport is "amqp" (TCP), "amqps" (TLS), "ws" or "wss" (WebSockets,
	// plain or over TLS), "kafka" or "kafka+tls".
	Transport string
	// Addr is the address it listens on, host:port.
	Addr string
}

// TLS reports whether the listener's clients speak TLS.
func (l Listener) TLS() bool {
	return l.Transport == "amqps" || l.Transport == "wss" || l.Transport == "kafka+tls"
}

// validateTransport explains the first bad TLS or WebSocket setting.
func validateTransport(c *Config) error {
	for _, a := range []struct{ name, addr string }{{"TLSListen", c.TLSListen}, {"KafkaTLSListen", c.KafkaTLSListen}} {
		if c.TLS == nil && a.addr != "" {
			return fmt.Errorf("emulator config: %s %q is set but TLS is nil: give TLS a certificate (SelfSignedTLS makes one)", a.name, a.addr)
		}
	}
	if t := c.TLS; t != nil && len(t.Certificates) == 0 && t.GetCertificate == nil && t.GetConfigForClient == nil {
		return fmt.Errorf("emulator config: TLS has no certificate: set Certificates, GetCertificate or GetConfigForClient (SelfSignedTLS makes one)")
	}
	for _, a := range []struct{ name, addr string }{{"TLSListen", c.TLSListen}, {"WebSocketListen", c.WebSocketListen},
		{"KafkaListen", c.KafkaListen}, {"KafkaTLSListen", c.KafkaTLSListen}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("emulator config: %s %q: %v", a.name, a.addr, err)
		}
	}
	return nil
}

// startTransports opens the TLS and WebSocket listeners the config asks
// for; it starts serving them only once all are open.
func (s *Server) startTransports(ctx context.Context) error {
	var lc net.ListenConfig
	t := &s.tr
	if s.cfg.TLS != nil {
		addr := s.cfg.TLSListen
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("emulator: TLS listen on %s: %w", addr, err)
		}
		t.tlsLn = tls.NewListener(ln, s.cfg.TLS)
	}
	if addr := s.cfg.WebSocketListen; addr != "" {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			s.closeTransports()
			return fmt.Errorf("emulator: WebSocket listen on %s: %w", addr, err)
		}
		if s.cfg.TLS != nil {
			// HTTP/1.1 only: a WebSocket upgrade is an HTTP/1.1 request.
			cfg := s.cfg.TLS.Clone()
			cfg.NextProtos = []string{"http/1.1"}
			ln, t.wsTLS = tls.NewListener(ln, cfg), true
		}
		t.wsLn = ln
		t.wsSrv = s.newWebSocketServer()
	}
	if t.tlsLn != nil {
		s.wg.Add(1)
		go s.acceptLoop(t.tlsLn)
		s.log.Info("emulator listening for TLS", "addr", s.TLSAddr())
	}
	if t.wsSrv != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := t.wsSrv.Serve(t.wsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("WebSocket listener failed", "err", err)
			}
		}()
		s.log.Info("emulator listening for WebSockets", "url", s.WebSocketURL())
	}
	if err := s.startKafka(ctx); err != nil {
		s.closeTransports()
		return err
	}
	return nil
}

// closeTransports stops accepting on the TLS and WebSocket listeners; the
// connections they accepted are closed with the others.
func (s *Server) closeTransports() error {
	var errs []error
	if s.tr.tlsLn != nil {
		if err := s.tr.tlsLn.Close(); !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.tr.wsSrv != nil {
		errs = append(errs, s.tr.wsSrv.Close())
	} else if s.tr.wsLn != nil {
		errs = append(errs, s.tr.wsLn.Close())
	}
	for _, k := range []*kafka.Server{s.tr.kafka, s.tr.kafkaTLS} {
		if k != nil {
			errs = append(errs, k.Close())
		}
	}
	if s.tr.kafkaGroups != nil {
		s.tr.kafkaGroups.Close()
	}
	return errors.Join(errs...)
}

// maxRefusing bounds the connections refused for MaxConnections that are
// told why at once; past it, a refused connection is just closed, so that
// a flood of them costs no more than that.
const maxRefusing = 32

// register adds a connection from any listener to the server; false means
// the server is closing, and the connection was closed. A connection past
// MaxConnections is registered to be refused (conn.refusal).
func (s *Server) register(nc net.Conn) (*conn, bool) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return nil, false
	}
	open := s.served
	if open < s.cfg.MaxConnections {
		s.served++
	} else {
		c.refusal = amqpErr(condResourceLimit, fmt.Sprintf(
			"The number of maximum allowed connections has been reached: %d are open, and the emulator allows %d (MaxConnections, --max-connections). Close connections you no longer use, or raise the limit.",
			open, s.cfg.MaxConnections))
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	if c.refusal != nil {
		s.stats.connectionsRefused.Add(1)
		s.refusals.log(s.log, slog.LevelWarn, "connection refused: too many open", "limit", s.cfg.MaxConnections)
	}
	return c, true
}

// run serves a registered connection until it ends.
func (s *Server) run(c *conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if c.refusal == nil {
			s.served--
		}
		s.mu.Unlock()
	}()
	if c.refusal != nil && s.refusing.Add(1) > maxRefusing {
		s.refusing.Add(-1)
		c.nc.Close()
		return
	}
	if err := handshakeTLS(c); err != nil {
		if errors.Is(err, io.EOF) {
			c.log.Debug("TLS handshake failed", "err", err)
		} else {
			// Most often a client that does not trust the certificate.
			c.log.Info("TLS handshake failed", "err", err)
		}
		c.nc.Close()
	} else if c.refusal != nil {
		c.refuseConnection()
	} else {
		c.serve()
	}
	if c.refusal != nil {
		s.refusing.Add(-1)
	}
}

// handshakeTLS does a TLS connection's handshake, within the time the AMQP
// handshake has, so that its failure is logged as such.
func handshakeTLS(c *conn) error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// hintTLS logs, for a header the emulator does not speak, when it is a
// client's attempt at TLS: most often a connection string without
// UseDevelopmentEmulator=true used against the plain port.
func (c *conn) hintTLS(h [8]byte) {
	switch {
	case h[0] == 0x16: // a TLS handshake record
		c.log.Info("a client began TLS on the plain AMQP port: give it the TLS port, or UseDevelopmentEmulator=true in its connection string for plain AMQP")
	case string(h[:5]) == "AMQP\x02":
		c.log.Info("a client asked for TLS with AMQP's TLS protocol header, which the emulator does not support: TLS starts at the first byte on the TLS port")
	}
}

// TLSAddr is the address of AMQP over TLS, host:port; "" without TLS.
func (s *Server) TLSAddr() string {
	if s.tr.tlsLn == nil {
		return ""
	}
	return s.tr.tlsLn.Addr().String()
}

// WebSocketAddr is the address of AMQP over WebSockets, host:port; "" when
// the server serves none.
func (s *Server) WebSocketAddr() string {
	if s.tr.wsLn == nil {
		return ""
	}
	return s.tr.wsLn.Addr().String()
}

// WebSocketURL is the URL of AMQP over WebSockets: wss://localhost:PORT/...
// over TLS, ws://HOST:PORT/... without; "" when the server serves none.
func (s *Server) WebSocketURL() string {
	if s.tr.wsLn == nil {
		return ""
	}
	if s.tr.wsTLS {
		return "wss://" + tlsHostPort(s.cfg.WebSocketListen, s.tr.wsLn.Addr(), 443) + WebSocketPath
	}
	return "ws://" + s.WebSocketAddr() + WebSocketPath
}

// Listeners lists the addresses the server accepts clients on, the plain
// AMQP one first.
func (s *Server) Listeners() []Listener {
	out := []Listener{{Transport: "amqp", Addr: s.Addr()}}
	if a := s.TLSAddr(); a != "" {
		out = append(out, Listener{Transport: "amqps", Addr: a})
	}
	if a := s.WebSocketAddr(); a != "" {
		tr := "ws"
		if s.tr.wsTLS {
			tr = "wss"
		}
		out = append(out, Listener{Transport: tr, Addr: a})
	}
	if a := s.KafkaAddr(); a != "" {
		out = append(out, Listener{Transport: "kafka", Addr: a})
	}
	if a := s.KafkaTLSAddr(); a != "" {
		out = append(out, Listener{Transport: "kafka+tls", Addr: a})
	}
	return out
}

// TLSConnectionString is ConnectionString for AMQP over TLS: its endpoint
// is sb://localhost/ (sb://localhost:PORT/ when the port is not 5671; the
// listener's host instead of localhost when it listens on one address that
// localhost does not reach), and it has no UseDevelopmentEmulator, so that the SDKs use TLS
// and verify the certificate. "" without TLS.
func (s *Server) TLSConnectionString(hub string) string {
	if s.tr.tlsLn == nil {
		return ""
	}
	endpoint := "Endpoint=sb://" + tlsHostPort(s.cfg.TLSListen, s.tr.tlsLn.Addr(), DefaultTLSPort) + "/"
	var parts []string
	for _, p := range strings.Split(s.ConnectionString(hub), ";") {
		k, _, _ := strings.Cut(p, "=")
		switch {
		case strings.EqualFold(k, "Endpoint"):
			p = endpoint
		case strings.EqualFold(k, "UseDevelopmentEmulator"):
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ";")
}

// tlsHostPort is the host:port clients name to reach a TLS listener: the
// host is the one a certificate is made for, localhost, unless the
// listener was given a host that localhost does not reach (another
// address, loopback ones such as 127.0.0.2 included: the Python SDK dials
// port 5671 whatever the endpoint says, so a second emulator on one
// machine needs another address); the port is left out when it is the
// default one.
func tlsHostPort(configured string, bound net.Addr, defaultPort int) string {
	host, _, _ := net.SplitHostPort(configured)
	if ip := net.ParseIP(host); host == "" || strings.EqualFold(host, "localhost") ||
		(ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback) || ip.IsUnspecified())) {
		host = "localhost"
	}
	port := 0
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = ta.Port
	}
	if port == defaultPort {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
