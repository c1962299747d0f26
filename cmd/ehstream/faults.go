package main

import (
	"fmt"
	"io"

	"github.com/ehstream/ehstream/emulator"
)

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
