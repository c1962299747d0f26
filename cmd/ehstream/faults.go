package main

import (
	"fmt"
	"io"
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
