package main

import (
	"flag"
	"net/http"
	"strings"
	"testing"
)

// TestEmulatorHTTPFlags: --http serves the status page, its JSON, the
// metrics, the health check and (on loopback) the faults API; the old name
// --health does the same, with a warning.
func TestEmulatorHTTPFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts child processes")
	}
	for _, flagName := range []string{"--http", "--health"} {
		t.Run(flagName, func(t *testing.T) {
			p := startEmulatorProcess(t, "--in-memory", flagName, "127.0.0.1:0")
			base := strings.TrimSuffix(p.health, "/health")
			for path, want := range map[string]string{
				"/health":   `{"status":"healthy"}`,
				"/":         "<title>ehstream emulator</title>",
				"/api/hubs": `"name": "eh1"`,
				"/metrics":  "ehstream_emulator_connections ",
				"/faults":   `"active"`,
			} {
				code, body := httpGet(t, base+path)
				if code != http.StatusOK || !strings.Contains(body, want) {
					t.Errorf("%s: GET %s: %d, want 200 with %q\n%s", flagName, path, code, want, body)
				}
			}
			warned := strings.Contains(p.stderr.String(), "--health is deprecated: use --http")
			if warned != (flagName == "--health") {
				t.Errorf("%s: stderr %q", flagName, p.stderr.String())
			}
		})
	}
}

// --http and --health name one address: both may be given only alike.
func TestEmulatorHTTPFlagConflict(t *testing.T) {
	code, _, errOut := cli(t, "", "emulator", "--in-memory", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:5300", "--health", "127.0.0.1:5301")
	if code != 2 || !strings.Contains(errOut, "--health is the old name of --http") || !strings.Contains(errOut, "127.0.0.1:5301") {
		t.Errorf("--http and --health with different addresses: exit %d, stderr %q; want exit 2 naming both", code, errOut)
	}
	for _, c := range []struct {
		args       []string
		addr, name string
		warns      bool
	}{
		{nil, "", "http", false},
		{[]string{"--http", "a:1"}, "a:1", "http", false},
		{[]string{"--health", "a:1"}, "a:1", "health", true},
		{[]string{"--http", "a:1", "--health", "a:1"}, "a:1", "http", false},
	} {
		fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
		h := fs.String("http", "", "")
		old := fs.String("health", "", "")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		got, err := httpAddress(fs, *h, *old, &stderr)
		if err != nil || got.addr != c.addr || got.name != c.name || (stderr.Len() > 0) != c.warns {
			t.Errorf("%v: %+v, %v, stderr %q; want %s from --%s", c.args, got, err, stderr.String(), c.addr, c.name)
		}
	}
}
