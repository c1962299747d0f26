package main

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/ehstream/ehstream/emulator"
)

// loadFaults reads the --faults file: what POST /faults takes, one fault
// object or an array of them. The hubs and partitions are checked when
// the emulator injects them.
func loadFaults(path string) ([]emulator.Fault, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--faults: %w", err)
	}
	faults, err := emulator.ParseFaults(data)
	if err != nil {
		return nil, fmt.Errorf("--faults %s: %w", path, err)
	}
	return faults, nil
}

// injectStartFaults injects the --faults file's faults into the started
// emulator and says so.
func injectStartFaults(srv *emulator.Server, path string, faults []emulator.Fault, stdout io.Writer) error {
	if len(faults) == 0 {
		return nil
	}
	injected, err := srv.InjectFaults(faults)
	if err != nil {
		return fmt.Errorf("--faults %s: %w", path, err)
	}
	for _, af := range injected {
		fmt.Fprintf(stdout, "fault %d injected: %s\n", af.ID, af.Fault)
	}
	return nil
}

// adminAllowed reports whether the faults admin API may be served on the
// --http listener: only on a loopback address, as it has no
// authentication, unless --insecure.
func adminAllowed(addr net.Addr, insecure bool) bool {
	if insecure {
		return true
	}
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// printFaultsAPI says where the faults admin API is, or why it is not
// served.
func printFaultsAPI(stdout io.Writer, addr net.Addr, served bool) {
	if !served {
		fmt.Fprintf(stdout, "faults API:        off: %s is not a loopback address (--insecure serves it there, without authentication)\n", addr)
		return
	}
	fmt.Fprintf(stdout, "faults API:        http://%s/faults\n", addr)
}
