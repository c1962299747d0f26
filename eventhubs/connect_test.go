package eventhubs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// cannotConnectWithin is how soon a connection that cannot be made must
// be told: at the first failure, never after OperationTimeout's retries.
const cannotConnectWithin = 2 * time.Second

// closedPort is an address nothing listens on: a port the test took and
// gave back.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// failsAtOnce runs op, which must fail with CodeCannotConnect within
// cannotConnectWithin although OperationTimeout is 30 s, and returns its
// error.
func failsAtOnce(t *testing.T, what string, op func(context.Context) error) error {
	t.Helper()
	start := time.Now()
	err := op(testCtx(t, time.Minute))
	took := time.Since(start)
	if !eventhubs.HasCode(err, eventhubs.CodeCannotConnect) {
		t.Fatalf("%s: %v after %s, want CodeCannotConnect", what, err, took)
	}
	if took > cannotConnectWithin {
		t.Fatalf("%s failed after %s, want within %s: %v", what, took, cannotConnectWithin, err)
	}
	return err
}

// TestCannotConnectRefused: a port that refuses connections fails a
// description, a read and a stream's start at once, naming the refusal,
// which is in the error's chain.
func TestCannotConnectRefused(t *testing.T) {
	addr := closedPort(t)
	conf := eventhubs.NewConf("Endpoint=sb://" + addr + ";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=eh1").
		SetOperationTimeout(30 * time.Second)
	err := failsAtOnce(t, "DescribeHub", func(ctx context.Context) error {
		_, err := eventhubs.DescribeHub(ctx, conf)
		return err
	})
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "connection refused") ||
		!strings.Contains(err.Error(), "amqp://"+addr+"/") {
		t.Errorf("DescribeHub: %v; want the refusal of amqp://%s/ in the chain", err, addr)
	}
	failsAtOnce(t, "a read", func(ctx context.Context) error {
		_, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "eh1", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}})
		return err
	})
	failsAtOnce(t, "resolving positions", func(ctx context.Context) error {
		_, err := eventhubs.ResolvePositions(ctx, conf, map[string]eventhubs.EventPosition{"0": eventhubs.EndOfStream()})
		return err
	})
}

// TestCannotConnectCertificate: TLS to a server whose certificate the
// client cannot accept, or that speaks no TLS, fails at once with the
// certificate's error in the chain.
func TestCannotConnectCertificate(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	ss, err := emulator.SelfSignedTLS("", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.Start(ctx, &emulator.Config{TLS: ss.ServerConfig(), TLSListen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_, plainPort, _ := net.SplitHostPort(srv.Addr())
	for _, tc := range []struct {
		name, endpoint string
		in             func(error) bool // the chain holds the cause
		says           string
	}{
		{"unknown authority", "localhost:" + port(srv.TLSAddr()), chainHas[x509.UnknownAuthorityError], "certificate signed by unknown authority"},
		{"another host", tlsServer(t, []string{"other.example"}, time.Now().Add(time.Hour)), chainHas[x509.HostnameError], "not for localhost"},
		{"expired", tlsServer(t, []string{"localhost"}, time.Now().Add(-time.Hour)), chainHas[x509.CertificateInvalidError], "has expired"},
		{"no TLS", "localhost:" + plainPort, chainHas[tls.RecordHeaderError], "does not speak TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := eventhubs.NewConf("Endpoint=sb://" + tc.endpoint + "/;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=eh1").
				SetOperationTimeout(30 * time.Second)
			err := failsAtOnce(t, "DescribeHub", func(ctx context.Context) error {
				_, err := eventhubs.DescribeHub(ctx, conf)
				return err
			})
			if !tc.in(err) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%v; want the cause in the chain, and the message to say %q", err, tc.says)
			}
		})
	}
}

// chainHas reports whether err's chain holds an E.
func chainHas[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// tlsServer serves TLS on a loopback port with a self-signed certificate
// for names that ends at notAfter, and returns localhost:PORT.
func tlsServer(t *testing.T, names []string, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake() // fails: the client refuses the certificate
				c.Close()
			}()
		}
	}()
	return "localhost:" + port(ln.Addr().String())
}

// TestCannotConnectNoSuchHost: a namespace whose name does not resolve
// fails at once, the resolver's answer in the chain.
func TestCannotConnectNoSuchHost(t *testing.T) {
	const host = "ehstream-no-such-namespace.invalid"
	if _, err := net.DefaultResolver.LookupHost(testCtx(t, 5*time.Second), host); !isNotFound(err) {
		t.Skipf("this machine's resolver does not answer that %s does not exist (%v): nothing to test", host, err)
	}
	conf := eventhubs.NewConf("Endpoint=sb://" + host + "/;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=eh1").
		SetOperationTimeout(30 * time.Second)
	err := failsAtOnce(t, "DescribeHub", func(ctx context.Context) error {
		_, err := eventhubs.DescribeHub(ctx, conf)
		return err
	})
	if !isNotFound(err) || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("%v; want the resolver's not-found in the chain", err)
	}
}

func isNotFound(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

// TestRefusedAfterReachedIsRetried: an endpoint that refuses connections
// after it was reached (a service restarting) is retried, each attempt
// logged with its cause, until it answers again.
func TestRefusedAfterReachedIsRetried(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	addr := closedPort(t)
	first, err := emulator.Start(ctx, &emulator.Config{Listen: addr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	conf := testConf(first, "eh1").SetOperationTimeout(30 * time.Second).SetLogger(slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()) })
	if _, err := eventhubs.DescribeHub(ctx, conf); err != nil {
		t.Fatal(err)
	}
	first.Close()
	described := make(chan error, 1)
	go func() {
		_, err := eventhubs.DescribeHub(ctx, conf)
		described <- err
	}()
	waitFor(t, 20*time.Second, "a retry logged with the refusal as its cause", func() bool {
		return strings.Contains(logs.String(), "attempt=2") && strings.Contains(logs.String(), "connection refused")
	})
	again, err := emulator.Start(ctx, &emulator.Config{Listen: addr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if err := <-described; err != nil {
		t.Fatalf("DescribeHub while the emulator restarted: %v\nlog:\n%s", err, logs)
	}
	if !strings.Contains(logs.String(), `msg="eventhubs: attempt failed, retrying" hub=eh1 attempt=1`) {
		t.Errorf("the log does not tell of attempt 1:\n%s", logs)
	}
}
