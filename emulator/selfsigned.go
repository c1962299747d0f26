package emulator

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The certificates SelfSignedTLS makes, chosen for the official SDKs of
// every language, which verify the server with their platform's TLS (Go's
// crypto/tls, OpenSSL for Python and Node.js, JSSE for Java, SChannel,
// OpenSSL or Apple's for .NET):
//   - RSA 2048 keys and SHA-256 signatures, which every one of them accepts;
//   - a CA certificate valid for 10 years with basic constraints CA:true
//     (critical, path length 0), key usage certSign and a subject key id, as
//     OpenSSL's strict mode (Python 3.13's default) requires;
//   - a server certificate valid for 397 days, with extended key usage
//     serverAuth, the names as DNS and IP subject alternative names, and an
//     authority key id. 397 days is within every limit a client applies to
//     server certificates (Apple's 825 days for any CA, the browsers' 398 for
//     public ones); it costs nothing, since each start issues a new server
//     certificate from the same CA when the old one has less than 30 days
//     left or lacks a name, and clients trust the CA, not the certificate.
const (
	caValidity       = 10 * 365 * 24 * time.Hour
	serverValidity   = 397 * 24 * time.Hour
	renewBefore      = 30 * 24 * time.Hour
	certBackdate     = time.Hour // clocks of containers and hosts differ
	selfSignedKeyLen = 2048
)

// Files of a SelfSigned directory.
const (
	// SelfSignedCAFile is the CA certificate, for clients to trust.
	SelfSignedCAFile = "ca.pem"
	// selfSignedCAKeyFile holds the CA's private key followed by its
	// certificate: one file, created at once, so that two emulators starting
	// together cannot end up with one's key and the other's certificate.
	selfSignedCAKeyFile     = "ca-key.pem"
	selfSignedServerFile    = "server.pem"
	selfSignedServerKeyFile = "server-key.pem"
)

// SelfSigned is a certificate authority made for the emulator and a server
// certificate it signed. Clients verify the emulator by trusting the CA.
type SelfSigned struct {
	// CACertPEM is the CA's certificate, PEM-encoded.
	CACertPEM []byte
	// Certificate is the server certificate, with its private key.
	Certificate tls.Certificate
	// Dir keeps them; "" when they are in memory only.
	Dir string
	// NewCA says the CA was made by this call rather than read from Dir:
	// clients that trusted an earlier one must trust this one.
	NewCA bool
	// NewServerCert says the server certificate was issued by this call (it
	// is whenever the one in Dir is missing, lacks a name or nears its end).
	NewServerCert bool
	// Names are the server certificate's subject alternative names.
	Names []string

	ca *x509.Certificate
}

// defaultTLSNames are the names of every server certificate SelfSignedTLS
// issues, besides the ones asked for.
var defaultTLSNames = []string{"localhost", "127.0.0.1", "::1"}

// SelfSignedTLS returns a certificate authority and a server certificate
// it signed for localhost, 127.0.0.1, ::1 and names (host names, "*.domain"
// wildcards or IP addresses). With a dir, they are kept there and reused:
// the CA is made once, in the files ca-key.pem (its key and certificate)
// and ca.pem (its certificate, for clients); the server certificate
// (server.pem, server-key.pem) is issued again from it when it lacks one of
// names or has less than 30 days left. With dir "" both are made in memory.
func SelfSignedTLS(dir string, names []string) (*SelfSigned, error) {
	all, err := tlsNames(names)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s := &SelfSigned{Dir: dir, Names: all}
	var caKey crypto.Signer
	if dir == "" {
		if s.ca, caKey, err = newCA(now); err != nil {
			return nil, err
		}
		s.NewCA = true
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("emulator tls: %w", err)
		}
		if s.ca, caKey, s.NewCA, err = loadOrCreateCA(dir, now); err != nil {
			return nil, err
		}
		if err := writeFileIfChanged(filepath.Join(dir, SelfSignedCAFile), pemCert(s.ca.Raw), 0o644); err != nil {
			return nil, err
		}
	}
	s.CACertPEM = pemCert(s.ca.Raw)
	if dir != "" {
		if cert, ok := loadServerCert(dir, s.ca, all, now); ok {
			s.Certificate = cert
			return s, nil
		}
	}
	certDER, key, err := newServerCert(s.ca, caKey, all, now)
	if err != nil {
		return nil, err
	}
	s.NewServerCert = true
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("emulator tls: %w", err)
	}
	if dir != "" {
		// The key first: a certificate whose key is not there yet would be
		// taken for a damaged pair, and issued again, by a start in between.
		if err := writeFileAtomic(filepath.Join(dir, selfSignedServerKeyFile), pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, selfSignedServerFile), pemCert(certDER), 0o644); err != nil {
			return nil, err
		}
	}
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("emulator tls: %w", err)
	}
	s.Certificate = tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key, Leaf: leaf}
	return s, nil
}

// SelfSignedDir is where Config.UseSelfSignedTLS keeps the CA under
// Config.DataDir: a hidden name, out of the way of hubs' directories.
const SelfSignedDir = ".tls"

// UseSelfSignedTLS sets c.TLS to a server certificate from SelfSignedTLS,
// whose CA is made once and kept in DataDir's SelfSignedDir, or in memory
// without a DataDir. The certificate is for names and, so that clients can
// name them, for the hosts TLSListen and WebSocketListen are given
// besides localhost and the loopback addresses: set those first.
func (c *Config) UseSelfSignedTLS(names []string) (*SelfSigned, error) {
	names = slices.Clone(names)
	for _, addr := range []string{c.TLSListen, c.WebSocketListen} {
		if host, _, _ := net.SplitHostPort(addr); listenHostNeedsName(host) {
			names = append(names, host)
		}
	}
	dir := ""
	if c.DataDir != "" {
		dir = filepath.Join(c.DataDir, SelfSignedDir)
	}
	ss, err := SelfSignedTLS(dir, names)
	if err != nil {
		return nil, err
	}
	c.TLS = ss.ServerConfig()
	return ss, nil
}

// listenHostNeedsName: a host a listener is given that clients may use,
// and that the certificate does not name anyway.
func listenHostNeedsName(host string) bool {
	if host == "" || strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !(ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback) || ip.IsUnspecified())
}

// CAFile is the path of the CA certificate in Dir, or "" in memory.
func (s *SelfSigned) CAFile() string {
	if s.Dir == "" {
		return ""
	}
	return filepath.Join(s.Dir, SelfSignedCAFile)
}

// WriteCAFile writes the CA certificate (PEM) to path, for clients to
// trust.
func (s *SelfSigned) WriteCAFile(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("emulator tls: %w", err)
		}
	}
	return writeFileAtomic(path, s.CACertPEM, 0o644)
}

// ServerConfig is the TLS configuration for Config.TLS.
func (s *SelfSigned) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.Certificate}, MinVersion: tls.VersionTLS12}
}

// CertPool holds the CA alone: a client's tls.Config RootCAs.
func (s *SelfSigned) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca)
	return p
}

// ClientConfig is a client TLS configuration that trusts the CA alone and
// expects serverName ("" lets the client pick it from the address it
// dials). The Go SDK takes the TLS server name from the connection
// string's endpoint with its port, so give "localhost" when the endpoint
// names a port: sb://localhost:5673/.
func (s *SelfSigned) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: s.CertPool(), ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// tlsNames checks names and puts defaultTLSNames first, without
// duplicates.
func tlsNames(names []string) ([]string, error) {
	out := slices.Clone(defaultTLSNames)
	for _, n := range names {
		if err := validTLSName(n); err != nil {
			return nil, err
		}
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		} else {
			n = strings.ToLower(n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func validTLSName(n string) error {
	if net.ParseIP(n) != nil {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("emulator tls: name %q is not a host name or an IP address: %s", n, why)
	}
	if n == "" {
		return bad("it is empty")
	}
	if len(n) > 253 {
		return bad("it is longer than 253 characters")
	}
	for i, label := range strings.Split(strings.TrimPrefix(n, "*."), ".") {
		if label == "" || len(label) > 63 {
			return bad("each dot-separated part must have 1 to 63 characters")
		}
		for _, r := range label {
			if r != '-' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
				return bad(fmt.Sprintf("part %d has the character %q; use letters, digits and '-' (a wildcard only as \"*.\" at the start)", i+1, r))
			}
		}
	}
	return nil
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, selfSignedKeyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// A distinct name per CA tells them apart in a trust store.
		Subject: pkix.Name{
			CommonName:   "ehstream emulator CA " + hex.EncodeToString(serial.Bytes()[:4]),
			Organization: []string{"ehstream"},
		},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: CA certificate: %w", err)
	}
	return cert, key, nil
}

func newServerCert(ca *x509.Certificate, caKey crypto.Signer, names []string, now time.Time) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, selfSignedKeyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"ehstream"}},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(serverValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: server certificate: %w", err)
	}
	return der, key, nil
}

// randomSerial is a positive 127-bit serial number.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("emulator tls: %w", err)
	}
	b[0] = b[0]&0x7f | 0x40 // positive, and 16 bytes long
	return new(big.Int).SetBytes(b), nil
}

// keyID is RFC 5280's method 1: the SHA-1 of the subject public key's bits,
// which for RSA are the PKCS #1 encoding of the key.
func keyID(pub *rsa.PublicKey) []byte {
	sum := sha1.Sum(x509.MarshalPKCS1PublicKey(pub))
	return sum[:]
}

// loadOrCreateCA reads dir's CA, or makes one when there is none.
func loadOrCreateCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, bool, error) {
	path := filepath.Join(dir, selfSignedCAKeyFile)
	ca, key, err := readCA(path, now)
	if err == nil {
		return ca, key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, err
	}
	ca, newKey, err := newCA(now)
	if err != nil {
		return nil, nil, false, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(newKey)
	if err != nil {
		return nil, nil, false, fmt.Errorf("emulator tls: %w", err)
	}
	data := append(pemBlock("PRIVATE KEY", keyDER), pemCert(ca.Raw)...)
	created, err := createFileOnce(path, data, 0o600)
	if err != nil {
		return nil, nil, false, err
	}
	if !created {
		// Another start made one first: use it.
		ca, key, err := readCA(path, now)
		return ca, key, false, err
	}
	return ca, newKey, true, nil
}

func readCA(path string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("emulator tls: %w", err)
	}
	remake := fmt.Sprintf("remove %s to make a new CA (clients then have to trust the new one)", filepath.Dir(path))
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: %s does not hold the CA's private key and certificate: %v; %s", path, err, remake)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("emulator tls: %s: %v; %s", path, err, remake)
	}
	if !ca.IsCA {
		return nil, nil, fmt.Errorf("emulator tls: the certificate in %s is not a CA; %s", path, remake)
	}
	if now.After(ca.NotAfter) {
		return nil, nil, fmt.Errorf("emulator tls: the CA in %s expired on %s; %s", path, ca.NotAfter.Format(time.DateOnly), remake)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("emulator tls: %s: the private key cannot sign; %s", path, remake)
	}
	return ca, key, nil
}

// loadServerCert reads dir's server certificate and reports whether it
// still serves: its key matches, the CA signed it for every name, and it
// has renewBefore left.
func loadServerCert(dir string, ca *x509.Certificate, names []string, now time.Time) (tls.Certificate, bool) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, selfSignedServerFile), filepath.Join(dir, selfSignedServerKeyFile))
	if err != nil {
		return tls.Certificate{}, false
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || now.Add(renewBefore).After(leaf.NotAfter) {
		return tls.Certificate{}, false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, n := range names {
		opts := x509.VerifyOptions{Roots: roots, DNSName: n, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			return tls.Certificate{}, false
		}
	}
	cert.Leaf = leaf
	return cert, true
}

func pemCert(der []byte) []byte { return pemBlock("CERTIFICATE", der) }

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFileAtomic replaces path with data: readers see the old file or the
// new one, never part of it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("emulator tls: %w", err)
	}
	return nil
}

// createFileOnce writes path with data unless it exists; created says
// which.
func createFileOnce(path string, data []byte, perm os.FileMode) (created bool, err error) {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	// A file system without hard links: create it exclusively instead.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("emulator tls: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, fmt.Errorf("emulator tls: writing %s: %w", path, err)
	}
	return true, nil
}

func writeFileIfChanged(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return writeFileAtomic(path, data, perm)
}

func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("emulator tls: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("emulator tls: writing %s: %w", path, err)
	}
	return f.Name(), nil
}

// UseTLSFiles sets c.TLS to serve the certificate of certFile (PEM, with
// any intermediate ones after it) and its private key in keyFile, TLS 1.2
// or later. A certificate past its NotAfter is served all the same, with
// a warning on c.Logger: clients refuse it, which is theirs to say.
func (c *Config) UseTLSFiles(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("emulator: TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	if leaf := cert.Leaf; leaf != nil && time.Now().After(leaf.NotAfter) && c.Logger != nil {
		c.Logger.Warn("the TLS certificate has expired: clients will refuse it", "file", certFile, "not_after", leaf.NotAfter)
	}
	c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}
