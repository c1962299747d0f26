package eventhubs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// The SDK (azeventhubs v2.0.2) hides why a connection could not be made:
// a refused port, an unknown host or an untrusted certificate comes back
// as a "connection lost" (azeventhubs.ErrorCodeConnectionLost) that does
// not unwrap, after the SDK retried it as a dropped connection — and the
// retries here went on until OperationTimeout, which ended with the last
// dial's "i/o timeout". So the connections are made here and handed to
// the SDK through its connection hook (ConsumerClientOptions.
// NewWebSocketConn: the SDK runs AMQP over whatever net.Conn it returns),
// and a connection that cannot be made is told apart from one that
// dropped:
//   - an endpoint this process has not reached yet that refuses the
//     connection, has no such host, presents a certificate the client
//     does not trust, or does not speak TLS fails at once with
//     CodeCannotConnect, the cause in its chain: no retry fixes an address,
//     a name or a trust store;
//   - once the endpoint was reached, the same causes (a service
//     restarting, a failover, a DNS blip) and every other one (a reset, a
//     timeout) are left to the retries, which log each attempt with its
//     cause.

// reached holds the targets (connector.target) this process has connected
// to once.
var reached sync.Map

// connector makes the connections of one SDK client: AMQP over TCP, with
// TLS unless the connection string says UseDevelopmentEmulator, or over
// WebSockets (websocket.go).
type connector struct {
	hub string
	// target is the endpoint as errors name it, amqps://HOST:PORT/ or the
	// WebSocket URL; reached or not, it is remembered by it.
	target string
	addr   string           // host:port that AMQP over TCP dials
	tls    *tls.Config      // nil: plain AMQP (UseDevelopmentEmulator)
	ws     *webSocketDialer // nil: AMQP over TCP
}

// newConnector is the connector of conf's connections, with the SDK
// options opts (its TLSConfig and CustomEndpoint). A connection string
// with UseDevelopmentEmulator speaks plain AMQP; a credential is always
// sent over TLS, as the service wants it.
func newConnector(conf *Conf, opts *azeventhubs.ConsumerClientOptions) (*connector, error) {
	ns, err := conf.FullyQualifiedNamespace()
	if err != nil {
		return nil, err
	}
	dev := false
	if conf.credential == nil {
		cs, err := conf.ConnectionString()
		if err != nil {
			return nil, err
		}
		dev = cs.UseDevelopmentEmulator
	}
	c := &connector{hub: conf.EventHubName()}
	if !dev {
		host, _ := conf.NamespaceHost() // FullyQualifiedNamespace succeeded
		c.tls = tlsConfigFor(opts.TLSConfig, host)
	}
	to := ns
	if opts.CustomEndpoint != "" {
		to = opts.CustomEndpoint
	}
	if conf.WebSockets() {
		c.ws = newWebSocketDialer(to, ns, c.tls)
		c.target = c.ws.url
		return c, nil
	}
	scheme, port := "amqps", "5671"
	if c.tls == nil {
		scheme, port = "amqp", "5672"
	}
	c.addr = withDefaultPort(to, port)
	c.target = scheme + "://" + c.addr + "/"
	return c, nil
}

// tlsConfigFor is base (nil: the defaults) verifying the namespace's host:
// go-amqp would take the name with the endpoint's port, which no
// certificate names.
func tlsConfigFor(base *tls.Config, host string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// withDefaultPort is hostport with port added when it names none.
func withDefaultPort(hostport, port string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(hostport, port)
}

// connect is the SDK's connection hook.
func (c *connector) connect(ctx context.Context, _ azeventhubs.WebSocketConnParams) (net.Conn, error) {
	nc, err := c.dial(ctx)
	if err == nil {
		reached.Store(c.target, true)
		return nc, nil
	}
	if _, ok := reached.Load(c.target); ok || ctx.Err() != nil {
		return nil, err // dropped, or given up on: the retries decide
	}
	if why := cannotConnect(err); why != "" {
		return nil, &dialError{&Error{Code: CodeCannotConnect, Hub: c.hub,
			Message: "cannot connect to " + c.target + ": " + why, Err: err}}
	}
	return nil, err
}

func (c *connector) dial(ctx context.Context) (net.Conn, error) {
	switch {
	case c.ws != nil:
		return c.ws.dial(ctx)
	case c.tls == nil:
		return (&net.Dialer{}).DialContext(ctx, "tcp", c.addr)
	}
	return (&tls.Dialer{Config: c.tls}).DialContext(ctx, "tcp", c.addr)
}

// cannotConnect says why err means the endpoint cannot be reached as it is
// named, and what to check; "" for other errors.
func cannotConnect(err error) string {
	var (
		dns      *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		notTLS   tls.RecordHeaderError
		alert    tls.AlertError
		upgrade  *upgradeRefusedError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused, nothing listens there (check the endpoint's host and port, and that the service runs)"
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Sprintf("no such host %q (check the namespace's name in the connection string)", dns.Name)
	case errors.As(err, &unknown):
		return "the server's certificate is signed by an authority this client does not trust (add the CA to the system's trust store, or name its PEM file in SSL_CERT_FILE)"
	case errors.As(err, &hostname):
		return fmt.Sprintf("the server's certificate is not for %s", hostname.Host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server's certificate has expired or is not valid yet (check the server's certificate and both clocks)"
	case errors.As(err, &invalid), errors.As(err, &verify):
		return "the server's certificate is not valid"
	case errors.As(err, &notTLS):
		return "the server does not speak TLS (for the emulator's plain AMQP port, end the connection string with UseDevelopmentEmulator=true)"
	case errors.As(err, &alert):
		return "the server refused the TLS handshake"
	case errors.As(err, &upgrade):
		return fmt.Sprintf("the server refused the WebSocket upgrade with %s (AMQP over WebSockets is served on %s: check the endpoint)", upgrade.status, webSocketPath)
	}
	return ""
}

// dialError is a CodeCannotConnect *Error on its way through the SDK,
// which gives it back as it is: it does not unwrap, so the SDK finds no
// network error in it (one it would retry as a dropped connection, and
// wrap into a "connection lost" that hides the cause), and it is
// NonRetriable, the mark azcore's errors carry that the SDK honours.
// errors.As finds the *Error, whose chain holds the cause.
type dialError struct{ err *Error }

func (d *dialError) Error() string { return d.err.Error() }

// NonRetriable marks the error as one retrying does not fix.
func (*dialError) NonRetriable() {}

// As finds the *Error.
func (d *dialError) As(target any) bool {
	if p, ok := target.(**Error); ok {
		*p = d.err
		return true
	}
	return false
}
