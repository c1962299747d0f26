package emulator_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator"
)

// UseSelfSignedTLS keeps the CA under DataDir and names the hosts the
// listeners are given, but not loopback or unspecified ones, which every
// certificate names or no client dials.
func TestConfigUseSelfSignedTLS(t *testing.T) {
	cfg := &emulator.Config{DataDir: t.TempDir(), TLSListen: "emu.internal:5671", WebSocketListen: "0.0.0.0:5443"}
	ss, err := cfg.UseSelfSignedTLS([]string{"extra.example"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || len(cfg.TLS.Certificates) != 1 {
		t.Fatalf("Config.TLS = %v, want the server certificate", cfg.TLS)
	}
	if want := filepath.Join(cfg.DataDir, emulator.SelfSignedDir); ss.Dir != want || !ss.NewCA {
		t.Errorf("Dir %q (new CA %v), want %q and a new CA", ss.Dir, ss.NewCA, want)
	}
	if _, err := os.Stat(filepath.Join(ss.Dir, emulator.SelfSignedCAFile)); err != nil {
		t.Error(err)
	}
	for _, n := range []string{"extra.example", "emu.internal", "localhost"} {
		if !slices.Contains(ss.Names, n) {
			t.Errorf("names %q lack %s", ss.Names, n)
		}
	}
	if slices.Contains(ss.Names, "0.0.0.0") {
		t.Errorf("names %q include the unspecified address", ss.Names)
	}
	again := &emulator.Config{DataDir: cfg.DataDir, TLSListen: "emu.internal:5671"}
	if ss, err := again.UseSelfSignedTLS([]string{"extra.example"}); err != nil || ss.NewCA || ss.NewServerCert {
		t.Errorf("a second start: %v, new CA %v, new server certificate %v; want both kept", err, ss != nil && ss.NewCA, ss != nil && ss.NewServerCert)
	}
	inMemory := &emulator.Config{}
	ss, err = inMemory.UseSelfSignedTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	if ss.Dir != "" || ss.CAFile() != "" || inMemory.TLS == nil {
		t.Errorf("without a DataDir: dir %q, CA file %q, TLS %v; want in memory", ss.Dir, ss.CAFile(), inMemory.TLS)
	}
}

// UseTLSFiles serves a certificate and key from PEM files, which a client
// trusting their CA verifies over a real TLS handshake; a key that is not
// the certificate's is refused naming both files.
func TestConfigUseTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ss, err := emulator.SelfSignedTLS(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	bad := &emulator.Config{}
	if err := bad.UseTLSFiles(ss.CAFile(), key); err == nil || !strings.Contains(err.Error(), ss.CAFile()) || !strings.Contains(err.Error(), key) || bad.TLS != nil {
		t.Errorf("UseTLSFiles(CA, server key) = %v, want an error naming both files and no TLS", err)
	}
	cfg := &emulator.Config{TLSListen: "127.0.0.1:0"}
	if err := cfg.UseTLSFiles(cert, key); err != nil {
		t.Fatal(err)
	}
	srv := start(t, cfg)
	conn, err := tls.Dial("tcp", srv.TLSAddr(), ss.ClientConfig("localhost"))
	if err != nil {
		t.Fatalf("TLS handshake with the files' certificate: %v", err)
	}
	conn.Close()
}
