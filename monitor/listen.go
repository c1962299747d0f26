package monitor

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// Listen listens on addr, HOST:PORT, or, while its port is in use, on the
// next of up to tries ports after it, as Spark's UI takes the next free
// port after 4040 (spark.port.maxRetries): replicas on one machine then
// each serve a page. Port 0 takes any free port. Errors: *AddressError for
// an addr that is not HOST:PORT, *PortsInUseError when every port tried is
// in use, and net.Listen's otherwise.
func Listen(addr string, tries int) (net.Listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &AddressError{Addr: addr, Err: err}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, &AddressError{Addr: addr, Port: portStr}
	}
	if port == 0 {
		tries = 0
	}
	last := min(port+tries, 65535)
	for p := port; p <= last; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, &PortsInUseError{Host: host, First: port, Last: last}
}

// AddressError is Listen's error for an address that is not HOST:PORT
// (Err says why) or whose Port is not a number from 0 to 65535.
type AddressError struct {
	Addr string
	Port string // "" when Addr is not HOST:PORT
	Err  error
}

func (e *AddressError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("address %q: want HOST:PORT: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("address %q: port %q is not a number from 0 to 65535", e.Addr, e.Port)
}

func (e *AddressError) Unwrap() error { return e.Err }

// PortsInUseError is Listen's error when ports First to Last of Host are
// all in use.
type PortsInUseError struct {
	Host        string
	First, Last int
}

func (e *PortsInUseError) Error() string {
	return fmt.Sprintf("ports %d to %d of %s are all in use", e.First, e.Last, e.Host)
}
