package emulator_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// testCA is one in-memory CA and server certificate for the tests of this
// package (RSA keys take a moment to make).
var testCA = sync.OnceValues(func() (*emulator.SelfSigned, error) {
	return emulator.SelfSignedTLS("", []string{"emulator.test"})
})

func selfSigned(t testing.TB) *emulator.SelfSigned {
	t.Helper()
	ss, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// startTLS runs an emulator with AMQP over TLS (and whatever else cfg
// asks for) on free loopback ports.
func startTLS(t testing.TB, cfg *emulator.Config) (*emulator.Server, *emulator.SelfSigned) {
	t.Helper()
	ss := selfSigned(t)
	if cfg == nil {
		cfg = &emulator.Config{}
	}
	cfg.TLS = ss.ServerConfig()
	return start(t, cfg), ss
}

// TestTLSGoSDK: the official Go SDK over TLS, verifying the certificate
// against the emulator's CA alone, with a connection string without
// UseDevelopmentEmulator, sends, receives and reads properties; a client
// that does not trust the CA fails with x509's unknown authority.
func TestTLSGoSDK(t *testing.T) {
	srv, ss := startTLS(t, nil)
	ctx := testCtx(t, 60*time.Second)
	cs := srv.TLSConnectionString("")
	_, port, _ := net.SplitHostPort(srv.TLSAddr())
	if strings.Contains(cs, "UseDevelopmentEmulator") || !strings.HasPrefix(cs, "Endpoint=sb://localhost:"+port+"/;") {
		t.Fatalf("TLS connection string %q: want Endpoint=sb://localhost:%s/ and no UseDevelopmentEmulator", cs, port)
	}
	if withHub := srv.TLSConnectionString("eh1"); withHub != cs+";EntityPath=eh1" {
		t.Fatalf("TLS connection string for eh1: %q", withHub)
	}
	// The SDK takes the TLS server name from the endpoint with its port
	// (localhost:PORT): name the host. On port 5671 the endpoint has none.
	trusting := ss.ClientConfig("localhost")
	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "eh1", &azeventhubs.ProducerClientOptions{TLSConfig: trusting})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("1")},
		&azeventhubs.EventData{Body: []byte("tls-0"), Properties: map[string]any{"k": "v"}}, &azeventhubs.EventData{Body: []byte("tls-1")})
	hp, err := p.GetEventHubProperties(ctx, nil)
	if err != nil || hp.Name != "eh1" || len(hp.PartitionIDs) != 2 {
		t.Fatalf("hub properties over TLS: %+v %v", hp, err)
	}

	c, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "eh1", azeventhubs.DefaultConsumerGroup, &azeventhubs.ConsumerClientOptions{TLSConfig: trusting})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	pp, err := c.GetPartitionProperties(ctx, "1", nil)
	if err != nil || pp.LastEnqueuedSequenceNumber != 1 {
		t.Fatalf("partition properties over TLS: %+v %v", pp, err)
	}
	pc, err := c.NewPartitionClient("1", &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	evs := receive(t, ctx, pc, 2)
	if string(evs[0].Body) != "tls-0" || string(evs[1].Body) != "tls-1" || evs[0].Properties["k"] != "v" {
		t.Fatalf("received over TLS: %q %q %v", evs[0].Body, evs[1].Body, evs[0].Properties)
	}
	for _, l := range srv.Listeners() {
		if l.Transport == "amqps" && (!l.TLS() || l.Addr != srv.TLSAddr()) {
			t.Fatalf("listener %+v: want the TLS one at %s", l, srv.TLSAddr())
		}
	}

	// Trusting the system's CAs (not the emulator's): an unknown authority.
	untrusting, err := azeventhubs.NewProducerClientFromConnectionString(cs, "eh1", &azeventhubs.ProducerClientOptions{
		TLSConfig: &tls.Config{ServerName: "localhost"}, RetryOptions: azeventhubs.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close(context.Background())
	_, err = untrusting.GetEventHubProperties(ctx, nil)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("a client that does not trust the CA: %v (%T), want x509.UnknownAuthorityError", err, err)
	}
	// Verification is by name too: the certificate is not for other.test.
	_, err = tls.Dial("tcp", srv.TLSAddr(), ss.ClientConfig("other.test"))
	var wrongName x509.HostnameError
	if !errors.As(err, &wrongName) {
		t.Fatalf("dialing as other.test: %v, want x509.HostnameError", err)
	}
}

// TestSelfSignedCertificates: what SelfSignedTLS makes is what strict
// clients ask for (RSA 2048, a CA with CA:true and certSign, a server
// certificate for serverAuth naming localhost, 127.0.0.1, ::1 and the extra
// names), and OpenSSL's strict verification, Python's ssl (OpenSSL, as the
// Python SDK uses it) and Java's JSSE (as the Java SDK uses it) accept it
// when they trust the CA. Those three are used where installed.
func TestSelfSignedCertificates(t *testing.T) {
	ss := selfSigned(t)
	block, _ := pem.Decode(ss.CACertPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CA PEM: %q", ss.CACertPEM)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	leaf := ss.Certificate.Leaf
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 || len(ca.SubjectKeyId) == 0 {
		t.Errorf("CA: IsCA %v, basic constraints %v, key usage %b, subject key id %x", ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage, ca.SubjectKeyId)
	}
	if d := ca.NotAfter.Sub(ca.NotBefore); d < 9*365*24*time.Hour {
		t.Errorf("CA valid for %s, want about 10 years", d)
	}
	for name, c := range map[string]*x509.Certificate{"CA": ca, "server": leaf} {
		if k, ok := c.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 || c.SignatureAlgorithm != x509.SHA256WithRSA {
			t.Errorf("%s: key %T, signature %s; want RSA 2048 with SHA-256", name, c.PublicKey, c.SignatureAlgorithm)
		}
	}
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || !bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) {
		t.Errorf("server certificate: IsCA %v, extended key usage %v, authority key id %x", leaf.IsCA, leaf.ExtKeyUsage, leaf.AuthorityKeyId)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 398*24*time.Hour || d < 365*24*time.Hour {
		t.Errorf("server certificate valid for %s, want a year and at most 398 days", d)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "emulator.test"}) || !slices.Equal(ips, []string{"127.0.0.1", "::1"}) {
		t.Errorf("server certificate names: DNS %v, IP %v", leaf.DNSNames, ips)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "emulator.test"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ss.CertPool(), DNSName: name}); err != nil {
			t.Errorf("verify as %s: %v", name, err)
		}
	}

	dir := t.TempDir()
	caFile, leafFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem")
	if err := ss.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(leafFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644)

	if openssl, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command(openssl, "verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "localhost", "-CAfile", caFile, leafFile).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Errorf("openssl verify -x509_strict: %v\n%s", err, out)
		}
	} else {
		t.Log("openssl not installed: strict OpenSSL verification not run")
	}

	srv, _ := startTLS(t, nil)
	host, port, _ := net.SplitHostPort(srv.TLSAddr())
	if python, err := exec.LookPath("python3"); err == nil {
		// Strict X.509 checks as Python 3.13 makes them by default; the
		// emulator answers the AMQP header with its own.
		script := `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
for name in ("localhost", "127.0.0.1"):
    with socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(b"AMQP\x00\x01\x00\x00")
            got = b""
            while len(got) < 8:
                chunk = s.recv(8 - len(got))
                if not chunk:
                    break
                got += chunk
            print(name, s.version(), got)
`
		out, err := exec.Command(python, "-c", script, caFile, host, port).CombinedOutput()
		if err != nil || strings.Count(string(out), `b'AMQP\x00\x01\x00\x00'`) != 2 {
			t.Errorf("python ssl with the CA, strict: %v\n%s", err, out)
		}
		t.Logf("python3: %s", bytes.TrimSpace(out))
	} else {
		t.Log("python3 not installed: Python's TLS not tried")
	}
	if java, err := exec.LookPath("java"); err == nil {
		keytool, err := exec.LookPath("keytool")
		if err != nil {
			t.Fatalf("java without keytool: %v", err)
		}
		// As the README says: import the CA into a trust store and name it
		// with javax.net.ssl.trustStore.
		store := filepath.Join(dir, "truststore.p12")
		if out, err := exec.Command(keytool, "-importcert", "-noprompt", "-alias", "ehstream-emulator", "-file", caFile,
			"-keystore", store, "-storetype", "PKCS12", "-storepass", "changeit").CombinedOutput(); err != nil {
			t.Fatalf("keytool -importcert: %v\n%s", err, out)
		}
		src, _ := filepath.Abs("testdata/tls/TLSCheck.java")
		cmd := exec.Command(java, "-Djavax.net.ssl.trustStore="+store, "-Djavax.net.ssl.trustStorePassword=changeit", src, "localhost", port)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "AMQP 0 1 0 0") {
			t.Errorf("java TLS with the CA in a trust store: %v\n%s", err, out)
		}
		t.Logf("java: %s", bytes.TrimSpace(out))
	} else {
		t.Log("java not installed: Java's TLS not tried")
	}
}

// TestSelfSignedReuse: a directory keeps the CA and the server certificate
// across starts; a new name gets a new server certificate from the same CA;
// a damaged CA file is an error naming it, and nothing is replaced.
func TestSelfSignedReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	first, err := emulator.SelfSignedTLS(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.NewCA || !first.NewServerCert || first.CAFile() != filepath.Join(dir, "ca.pem") {
		t.Fatalf("first: new CA %v, new server certificate %v, CA file %q", first.NewCA, first.NewServerCert, first.CAFile())
	}
	onDisk, err := os.ReadFile(first.CAFile())
	if err != nil || !bytes.Equal(onDisk, first.CACertPEM) {
		t.Fatalf("ca.pem: %v, same as CACertPEM: %v", err, bytes.Equal(onDisk, first.CACertPEM))
	}
	for _, f := range []string{"ca-key.pem", "server-key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want a private key file only its owner reads", f, err, fi.Mode())
		}
	}

	second, err := emulator.SelfSignedTLS(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.NewCA || second.NewServerCert || !bytes.Equal(second.CACertPEM, first.CACertPEM) ||
		!bytes.Equal(second.Certificate.Certificate[0], first.Certificate.Certificate[0]) {
		t.Fatalf("second start: new CA %v, new server certificate %v; want both reused", second.NewCA, second.NewServerCert)
	}

	os.Remove(filepath.Join(dir, "ca.pem")) // a user's cleanup: written again
	third, err := emulator.SelfSignedTLS(dir, []string{"build-agent", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if third.NewCA || !third.NewServerCert || !bytes.Equal(third.CACertPEM, first.CACertPEM) {
		t.Fatalf("with new names: new CA %v, new server certificate %v; want the same CA and a new certificate", third.NewCA, third.NewServerCert)
	}
	if _, err := third.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: first.CertPool(), DNSName: "build-agent"}); err != nil {
		t.Fatalf("new certificate for build-agent, verified with the first CA: %v", err)
	}
	if onDisk, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(onDisk, first.CACertPEM) {
		t.Fatalf("ca.pem not written again")
	}

	// A damaged server certificate is issued again; a damaged CA is not
	// replaced behind the clients' backs.
	os.WriteFile(filepath.Join(dir, "server-key.pem"), []byte("junk"), 0o600)
	fourth, err := emulator.SelfSignedTLS(dir, nil)
	if err != nil || !fourth.NewServerCert || fourth.NewCA {
		t.Fatalf("damaged server key: %v, new server certificate %v, new CA %v", err, fourth != nil && fourth.NewServerCert, fourth != nil && fourth.NewCA)
	}
	caKey := filepath.Join(dir, "ca-key.pem")
	os.WriteFile(caKey, []byte("junk"), 0o600)
	if _, err := emulator.SelfSignedTLS(dir, nil); err == nil || !strings.Contains(err.Error(), caKey) {
		t.Fatalf("damaged CA: %v, want an error naming %s", err, caKey)
	}
	if b, _ := os.ReadFile(caKey); string(b) != "junk" {
		t.Fatalf("the damaged CA file was replaced")
	}

	for _, bad := range []string{"", "a b", "host:5671", "https://x", "x..y"} {
		if _, err := emulator.SelfSignedTLS("", []string{bad}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("name %q: %v, want an error naming it", bad, err)
		}
	}
}

// TestTLSConfigRefused: TLS settings that cannot work fail Start with a
// reason.
func TestTLSConfigRefused(t *testing.T) {
	ss := selfSigned(t)
	for _, tc := range []struct {
		cfg  emulator.Config
		want string
	}{
		{emulator.Config{TLSListen: "127.0.0.1:0"}, "TLSListen"},
		{emulator.Config{TLS: &tls.Config{}}, "no certificate"},
		{emulator.Config{TLS: ss.ServerConfig(), TLSListen: "nonsense"}, "TLSListen \"nonsense\""},
		{emulator.Config{WebSocketListen: "nonsense"}, "WebSocketListen \"nonsense\""},
		{emulator.Config{TLS: ss.ServerConfig(), TLSListen: "256.0.0.1:0"}, "256.0.0.1"},
	} {
		srv, err := emulator.Start(context.Background(), &tc.cfg)
		if err == nil {
			srv.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%+v): %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

// TestTLSHeaderRefused: a client asking for TLS with AMQP's protocol
// header (id 2) on the plain port gets the header the emulator speaks and
// a closed connection, as for any unsupported header; the TLS port speaks
// TLS from the first byte, so a plain AMQP header there ends the
// connection.
func TestTLSHeaderRefused(t *testing.T) {
	var logs syncBuffer
	srv, _ := startTLS(t, &emulator.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, tc := range []struct {
		name, hint string
		first      []byte
	}{
		{"AMQP's TLS header", "AMQP's TLS protocol header", []byte{'A', 'M', 'Q', 'P', 2, 1, 0, 0}},
		// The start of a ClientHello: a client that expected TLS here.
		{"a TLS handshake", "began TLS on the plain AMQP port", []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03}},
	} {
		nc, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(tc.first)
		got, err := io.ReadAll(nc)
		if err != nil || !bytes.Equal(got, amqp.HeaderSASL[:]) {
			t.Fatalf("answer to %s: %q %v, want %q and the end of the connection", tc.name, got, err, amqp.HeaderSASL[:])
		}
		// Logged before the connection ended.
		if !strings.Contains(logs.String(), tc.hint) {
			t.Fatalf("after %s the log does not say %q:\n%s", tc.name, tc.hint, logs.String())
		}
	}

	tlsPort, err := net.Dial("tcp", srv.TLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer tlsPort.Close()
	tlsPort.SetDeadline(time.Now().Add(10 * time.Second))
	tlsPort.Write(amqp.HeaderAMQP[:])
	got, _ := io.ReadAll(tlsPort)
	if bytes.Contains(got, amqp.HeaderAMQP[:]) {
		t.Fatalf("the TLS port answered a plain AMQP header: %q", got)
	}
}
