package monitor

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Server serves a Monitor (or any handler, such as the emulator's page)
// over HTTP on a port taken before there is anything to serve: a program
// takes the port first (ListenServer), so that a port it cannot have
// fails it before it starts anything, and serves the monitor once its
// stream exists (Serve).
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// ListenServer listens on addr as Listen does, with its errors: when the
// port is in use, on the next free one of up to tries after it.
func ListenServer(addr string, tries int) (*Server, error) {
	ln, err := Listen(addr, tries)
	if err != nil {
		return nil, err
	}
	return &Server{ln: ln}, nil
}

// Serve serves h (a Monitor, say) until Close; call it once.
func (s *Server) Serve(h http.Handler) {
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln)
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the page's address, with a host a browser can open: localhost
// when the server listens on every address.
func (s *Server) URL() string {
	a := s.ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port)) + "/"
}

// Close stops the server, giving the requests it is serving two seconds;
// before Serve, it closes the listener.
func (s *Server) Close() error {
	if s.srv == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
