package emulator

import (
	"net"
	"testing"
)

// TestTLSHostPort: the host:port of TLS connection strings and WebSocket
// URLs names localhost for listeners on 127.0.0.1, ::1 and every address
// (the certificate's name), the listener's host otherwise, and leaves out
// the default port.
func TestTLSHostPort(t *testing.T) {
	for _, tc := range []struct {
		configured string
		port       int
		want       string
	}{
		{"127.0.0.1:5671", 5671, "localhost"},
		{"", 5671, "localhost"},
		{"0.0.0.0:5671", 5671, "localhost"},
		{"[::]:0", 40000, "localhost:40000"},
		{"[::1]:5671", 5671, "localhost"},
		// localhost is 127.0.0.1: other loopback addresses are named.
		{"127.0.0.2:5671", 5671, "127.0.0.2"},
		{"127.9.8.7:6000", 6000, "127.9.8.7:6000"},
		{"localhost:6000", 6000, "localhost:6000"},
		{"10.1.2.3:5671", 5671, "10.1.2.3"},
		{"emulator.test:5671", 5671, "emulator.test"},
		{"[fd00::1]:5671", 5671, "[fd00::1]"},
		{"[fd00::1]:6000", 6000, "[fd00::1]:6000"},
	} {
		if got := tlsHostPort(tc.configured, &net.TCPAddr{Port: tc.port}, DefaultTLSPort); got != tc.want {
			t.Errorf("tlsHostPort(%q, port %d) = %q, want %q", tc.configured, tc.port, got, tc.want)
		}
	}
}
