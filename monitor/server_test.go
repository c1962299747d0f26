package monitor_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/streaming"
)

// A Server holds its port before it serves, serves the monitor at its
// URL once told to, and frees the port on Close, before Serve or after.
func TestServer(t *testing.T) {
	unserved, err := monitor.ListenServer("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := unserved.Addr().String()
	if err := unserved.Close(); err != nil {
		t.Fatalf("Close before Serve: %v", err)
	}
	if ln, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("the port of a Server closed before Serve is still taken: %v", err)
	} else {
		ln.Close()
	}
	srv, err := monitor.ListenServer("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Addr().(*net.TCPAddr).Port
	if want := fmt.Sprintf("http://127.0.0.1:%d/", port); srv.URL() != want {
		t.Errorf("URL = %s, want %s", srv.URL(), want)
	}
	ssc, err := streaming.NewContext(time.Second, &streaming.ContextOptions{NoBatchLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(monitor.New(ssc, nil))
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL() + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %s, want 200", resp.Status)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := client.Get(srv.URL() + "healthz"); err == nil {
		t.Error("the server answers after Close")
	}
	if _, err := monitor.ListenServer("127.0.0.1:x", 0); !errors.As(err, new(*monitor.AddressError)) {
		t.Errorf("ListenServer of a bad address: %v, want an *AddressError", err)
	}
}

// A server on every address shows localhost, which a browser can open.
func TestServerURLOfUnspecified(t *testing.T) {
	srv, err := monitor.ListenServer("0.0.0.0:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if want := fmt.Sprintf("http://localhost:%d/", srv.Addr().(*net.TCPAddr).Port); srv.URL() != want {
		t.Errorf("URL = %s, want %s", srv.URL(), want)
	}
}
