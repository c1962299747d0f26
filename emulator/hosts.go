package emulator

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
)

// The names the emulator answers to. A token is good only for a resource
// on one of them, and HTTP (the status server, WebSockets) serves only
// requests whose Host is one. Checking Host is what defeats DNS
// rebinding: a page whose own name an attacker makes resolve to 127.0.0.1
// reaches the port, and the browser then treats the emulator as that
// page's own origin, but every request it sends carries the attacker's
// name in Host.

// hostNames is a set of normalized names and addresses.
type hostNames map[string]bool

// newHostNames collects the names of a configuration: Config.HostNames,
// each listener's host (this machine's name and addresses for one that
// listens on every interface) and the names of the TLS certificate.
// Loopback names are always the emulator's and are not kept here.
func newHostNames(c *Config) hostNames {
	h := hostNames{}
	for _, n := range c.HostNames {
		h.add(n)
	}
	for _, addr := range []string{c.Listen, c.TLSListen, c.WebSocketListen} {
		if addr == "" {
			continue
		}
		for _, n := range ListenHostNames(addr) {
			h.add(n)
		}
	}
	for _, n := range certNames(c.TLS) {
		h.add(n)
	}
	return h
}

func (h hostNames) add(name string) {
	if n := normalizeHost(name); n != "" && !isLoopbackName(n) {
		h[n] = true
	}
}

// dnsName is a host name as DNS spells it: dot-separated labels of
// letters, digits, hyphens and underscores (container and service names
// have those), none starting or ending with a hyphen.
var dnsName = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$`)

// CheckHostName says what is wrong with a name given as one the emulator
// is reached by (Config.HostNames): it must be a host name or an IP
// address, without a scheme, port or path.
func CheckHostName(name string) error {
	if net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")) != nil || (len(name) <= 253 && dnsName.MatchString(name)) {
		return nil
	}
	return fmt.Errorf("host name %q: want a host name (such as eventhubs or emulator.example.com) or an IP address, without a scheme, port or path", name)
}

// ListenHostNames returns the names clients may use for a listen address
// (host:port) besides loopback ones: its host, or, when it listens on
// every interface ("", 0.0.0.0, ::), this machine's host name and the
// addresses of its interfaces.
func ListenHostNames(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return []string{host}
	}
	var out []string
	if name, err := os.Hostname(); err == nil {
		out = append(out, name)
	}
	// An error leaves the addresses out: a client that uses one is then
	// refused, with the names it may use instead.
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// certNames are the DNS names and addresses of the first certificate of
// a TLS configuration: the names clients reach its listeners by.
func certNames(cfg *tls.Config) []string {
	if cfg == nil || len(cfg.Certificates) == 0 {
		return nil
	}
	c := cfg.Certificates[0]
	leaf := c.Leaf
	if leaf == nil && len(c.Certificate) > 0 {
		// An unparsable certificate fails the TLS handshakes instead.
		leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if leaf == nil {
		return nil
	}
	out := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// normalizeHost drops a port, the brackets of an IPv6 address, its zone
// and a trailing dot, and lower-cases the rest.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h, _, _ = strings.Cut(h, "%")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// isLoopbackName: localhost, or an address of the loopback network. A
// normalized name.
func isLoopbackName(n string) bool {
	if n == "localhost" {
		return true
	}
	ip := net.ParseIP(n)
	return ip != nil && ip.IsLoopback()
}

// IsHostName reports whether host (a name or an address, with or without
// a port) names this emulator: a loopback name or address, a listener's
// host, a name of its TLS certificate, or one of Config.HostNames.
func (s *Server) IsHostName(host string) bool {
	n := normalizeHost(host)
	return n != "" && (isLoopbackName(n) || s.names[n])
}

// HostNames lists the names IsHostName accepts besides loopback ones,
// sorted.
func (s *Server) HostNames() []string {
	out := make([]string, 0, len(s.names))
	for n := range s.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CheckRequestHost accepts an HTTP request whose Host names this
// emulator (IsHostName) or is the address the request arrived on; the
// error says what was refused and what to use instead.
func (s *Server) CheckRequestHost(r *http.Request) error {
	if s.IsHostName(r.Host) {
		return nil
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		if ip := net.ParseIP(normalizeHost(r.Host)); ip != nil && ip.Equal(local.IP) {
			return nil
		}
	}
	return fmt.Errorf("the Host %.100q is not a name of this emulator, so the request is refused (a web page reaching it through a name of its own would be DNS rebinding): use %s, or add the name with --tls-name and --tls-self-signed (Config.HostNames)",
		r.Host, s.allHostNames())
}

// allHostNames lists, for errors, every name IsHostName accepts: the
// loopback ones first.
func (s *Server) allHostNames() string {
	return strings.Join(append([]string{"localhost", "127.0.0.1", "::1"}, s.HostNames()...), ", ")
}

// IsLoopbackAddr reports whether a listen address (host:port) reaches
// only this machine: localhost or a loopback address. "" and unspecified
// hosts listen on every interface; other host names are not resolved,
// and count as reachable.
func IsLoopbackAddr(addr string) bool { return isLoopback(addr) }
