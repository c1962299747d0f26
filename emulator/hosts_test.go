package emulator_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"

	"github.com/ehstream/ehstream/emulator"
)

// TestHostNames: the emulator answers to loopback names, Config.HostNames,
// its listeners' hosts and its certificate's names, and to nothing else;
// an HTTP request may also name the address it arrived on.
func TestHostNames(t *testing.T) {
	ss, err := emulator.SelfSignedTLS("", []string{"cert-name.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, &emulator.Config{HostNames: []string{"Emulator.Test"}, TLS: ss.ServerConfig(), WebSocketListen: "127.0.0.1:0"})
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:5672": true, "127.0.0.1": true, "127.0.0.2:80": true, "[::1]:443": true, "::1": true,
		"emulator.test": true, "emulator.test.:5300": true, "cert-name.test": true,
		"evil.example": false, "emulator.test.evil.example": false, "": false, "0.0.0.0": false, "127.0.0.1.nip.io": false,
	} {
		if got := srv.IsHostName(host); got != want {
			t.Errorf("IsHostName(%q) = %v, want %v", host, got, want)
		}
	}
	if names := srv.HostNames(); !slices.Contains(names, "emulator.test") || !slices.Contains(names, "cert-name.test") {
		t.Errorf("HostNames() = %q, want emulator.test and cert-name.test among them", names)
	}

	// A request naming the address it arrived on: a client of a server
	// listening on every interface, by this machine's address.
	ip := nonLoopbackIP(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var got error
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = srv.CheckRequestHost(r) })}}
	ts.Start()
	defer ts.Close()
	for host, ok := range map[string]bool{ln.Addr().String(): true, ip: true, "192.0.2.7:80": false} {
		req, _ := http.NewRequest("GET", ts.URL, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if (got == nil) != ok {
			t.Errorf("Host %s on a server at %s: %v, want allowed %v", host, ln.Addr(), got, ok)
		}
	}
}

// nonLoopbackIP is an address of this machine outside loopback; the test
// skips without one.
func nonLoopbackIP(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	t.Skip("no IPv4 address outside loopback")
	return ""
}

// TestListenHostNames: a listener's own host, or for every interface
// this machine's name and addresses.
func TestListenHostNames(t *testing.T) {
	if got := emulator.ListenHostNames("emu.example:5672"); !slices.Equal(got, []string{"emu.example"}) {
		t.Errorf("ListenHostNames(emu.example:5672) = %q", got)
	}
	if got := emulator.ListenHostNames("10.1.2.3:5672"); !slices.Equal(got, []string{"10.1.2.3"}) {
		t.Errorf("ListenHostNames(10.1.2.3:5672) = %q", got)
	}
	all := emulator.ListenHostNames("0.0.0.0:5672")
	if name, err := os.Hostname(); err == nil && !slices.Contains(all, name) {
		t.Errorf("ListenHostNames(0.0.0.0:5672) = %q, want the host name %q among them", all, name)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !slices.Contains(all, ipn.IP.String()) {
			t.Errorf("ListenHostNames(0.0.0.0:5672) = %q, want %s among them", all, ipn.IP)
		}
	}
}
