package monitor_test

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/ehstream/ehstream/monitor"
)

// Listen takes the next port when one is taken, up to tries more, and
// says which it tried when all are; a bad address is an *AddressError.
func TestListen(t *testing.T) {
	p := freePorts(t)
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ln, err := monitor.Listen(fmt.Sprintf("127.0.0.1:%d", p), 16)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().(*net.TCPAddr).Port; got != p+1 {
		t.Errorf("got port %d, want %d (the next after the taken %d)", got, p+1, p)
	}
	_, err = monitor.Listen(fmt.Sprintf("127.0.0.1:%d", p), 1)
	var pe *monitor.PortsInUseError
	if !errors.As(err, &pe) || pe.First != p || pe.Last != p+1 {
		t.Errorf("with both ports taken: %v; want a PortsInUseError for ports %d to %d", err, p, p+1)
	}
	for _, bad := range []string{"4040", "127.0.0.1:http", "127.0.0.1:70000"} {
		var ae *monitor.AddressError
		if _, err := monitor.Listen(bad, 16); !errors.As(err, &ae) || ae.Addr != bad {
			t.Errorf("Listen(%s) = %v; want an AddressError naming it", bad, err)
		}
	}
}

// freePorts returns a port p such that p and p+1 were both free.
func freePorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("found no two free ports in a row")
	return 0
}
