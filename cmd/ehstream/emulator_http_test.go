package main

import (
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestEmulatorHTTPFlags: --http serves the status page, its JSON, the
// metrics, the health check and the faults API; the old name
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

// TestEmulatorHTTPRefusesExposedAddress: --http (or --health) on an
// address other than loopback is refused before anything listens, saying
// why and naming --insecure, as the AMQP listeners are; with --insecure
// it serves, to this machine's addresses and name but not to a foreign
// Host.
func TestEmulatorHTTPRefusesExposedAddress(t *testing.T) {
	for _, args := range [][]string{{"--http", "0.0.0.0:0"}, {"--http", ":0"}, {"--health", "[::]:0"}, {"--http", "192.0.2.250:0"}} {
		// A context that has ended: were the check missing, the emulator
		// would start, serve and stop at once, with exit 0.
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errOut strings.Builder
		code := run(ended, append([]string{"emulator", "--in-memory", "--listen", "127.0.0.1:0"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code != 1 || out.String() != "" {
			t.Errorf("%v: exit %d, stdout %q; want 1 and nothing printed (nothing listened)", args, code, out.String())
		}
		for _, want := range []string{"refusing to serve HTTP on " + args[1], "not a loopback address", "no authentication", "--insecure"} {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%v: stderr %q does not say %q", args, errOut.String(), want)
			}
		}
	}

	e := runEmulatorInProcess(t, "--in-memory", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--insecure")
	_, port, _ := net.SplitHostPort(e.printed(t, `(?m)^faults API: +http://(\S+)/faults$`))
	ip := ""
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			ip = ipn.IP.String()
		}
	}
	if ip == "" {
		t.Skip("no IPv4 address outside loopback to reach --http 0.0.0.0 by")
	}
	hosts := map[string]int{net.JoinHostPort(ip, port): 200, "evil.example:" + port: 403}
	if name, err := os.Hostname(); err == nil {
		hosts[net.JoinHostPort(name, port)] = 200
	}
	for host, want := range hosts {
		req, _ := http.NewRequest("GET", "http://"+net.JoinHostPort(ip, port)+"/api/hubs", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /api/hubs on %s with Host %s: %s, want %d", ip, host, resp.Status, want)
		}
	}
}

// A name the emulator is reached by that is not its machine's (a
// container's service name, a DNS name) is given with --host-name: its
// HTTP server answers requests for it, and SAS tokens may name it.
func TestEmulatorHostNameFlag(t *testing.T) {
	e := runEmulatorInProcess(t, "--in-memory", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--host-name", "eventhubs.internal")
	_, port, _ := net.SplitHostPort(e.printed(t, `(?m)^faults API: +http://(\S+)/faults$`))
	for host, want := range map[string]int{"eventhubs.internal:" + port: 200, "EventHubs.Internal": 200, "other.internal:" + port: 403} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+"/api/hubs", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /api/hubs with Host %s: %s, want %d", host, resp.Status, want)
		}
	}
	for _, bad := range []string{"", "a b", "host/path", "http://x"} {
		var out, errOut strings.Builder
		code := run(context.Background(), []string{"emulator", "--in-memory", "--host-name", bad}, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code != 2 || !strings.Contains(errOut.String(), "host-name") || !strings.Contains(errOut.String(), "without a scheme, port or path") {
			t.Errorf("--host-name %q: exit %d, stderr %q; want 2 naming the flag", bad, code, errOut.String())
		}
	}
}
