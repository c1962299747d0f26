package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// cli runs ehstream in-process with stdin and returns exit code, stdout and
// stderr.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	code := run(ctx, args, stdio{in: strings.NewReader(stdin), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

func startInProcess(t *testing.T, hubs ...emulator.HubConfig) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: hubs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	return srv
}

// startOnDisk runs the emulator on addr ("127.0.0.1:0": any port) with its
// data in dir: started again on the same dir and address, the hub keeps
// its events and creation time, as a restarted emulator does, and may
// gain partitions; in a new dir it is a hub created again. Every server is
// closed when the test ends.
func startOnDisk(t *testing.T, addr, dir string, hubs ...emulator.HubConfig) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Listen: addr, DataDir: dir, Hubs: hubs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	return srv
}

func readLinesJSON(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("read printed a line that is not JSON: %q: %v", sc.Text(), err)
		}
		evs = append(evs, m)
	}
	return evs
}

// send, info and read against the in-process emulator, through run().
func TestSendInfoRead(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "orders", PartitionCount: 3})
	cs := srv.ConnectionString("")
	hubArgs := []string{"--connection-string", cs, "--hub", "orders"}

	code, out, errOut := cli(t, "one\ntwo\n\nthree\n", append([]string{"send", "--partition", "1", "--property", "src=cli"}, hubArgs...)...)
	if code != 0 || !strings.Contains(out, "sent 3 events to hub orders") || !strings.Contains(out, "skipped 1 blank line") {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	binary := string([]byte{0xff, 0x00, 0xfe})
	jsonLines := `{"body":{"t":21.5},"properties":{"unit":"C","n":3,"ok":true,"r":0.5},"partitionKey":"dev-1"}` + "\n" +
		`{"body":"plain text","partitionKey":"dev-1","contentType":"text/plain"}` + "\n"
	code, out, errOut = cli(t, jsonLines, append([]string{"send", "--json"}, hubArgs...)...)
	if code != 0 || !strings.Contains(out, "sent 2 events") {
		t.Fatalf("send --json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = cli(t, binary+"\n", append([]string{"send", "--partition", "2"}, hubArgs...)...)
	if code != 0 {
		t.Fatalf("send binary: exit %d, stderr %q", code, errOut)
	}

	code, out, errOut = cli(t, "", append([]string{"info", "--json"}, hubArgs...)...)
	if code != 0 {
		t.Fatalf("info: exit %d, stderr %q", code, errOut)
	}
	var info struct {
		Name       string
		Partitions []struct {
			ID                 string
			Empty              bool
			NextSequenceNumber int64
		}
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("info --json: %v\n%s", err, out)
	}
	total := int64(0)
	for _, p := range info.Partitions {
		total += p.NextSequenceNumber
	}
	if info.Name != "orders" || len(info.Partitions) != 3 || info.Partitions[1].NextSequenceNumber < 3 || total != 6 {
		t.Fatalf("info --json = %+v, want 3 partitions holding 6 events", info)
	}
	code, out, _ = cli(t, "", append([]string{"info"}, hubArgs...)...)
	if code != 0 || !strings.Contains(out, "hub orders: 3 partitions") || !strings.Contains(out, "PARTITION") {
		t.Errorf("info table: exit %d:\n%s", code, out)
	}

	code, out, errOut = cli(t, "", append([]string{"read", "--range", "1:0:3"}, hubArgs...)...)
	if code != 0 {
		t.Fatalf("read: exit %d, stderr %q", code, errOut)
	}
	evs := readLinesJSON(t, out)
	if len(evs) != 3 {
		t.Fatalf("read 1:0:3 printed %d events:\n%s", len(evs), out)
	}
	for i, want := range []string{"one", "two", "three"} {
		e := evs[i]
		if e["body"] != want || e["partition"] != "1" || e["sequenceNumber"] != float64(i) || e["offset"] == "" ||
			e["properties"].(map[string]any)["src"] != "cli" || e["partitionKey"] != nil {
			t.Errorf("event %d = %v", i, e)
		}
		if _, err := time.Parse(time.RFC3339, e["enqueuedTime"].(string)); err != nil {
			t.Errorf("event %d: enqueuedTime %v is not RFC 3339", i, e["enqueuedTime"])
		}
	}

	code, out, errOut = cli(t, "", append([]string{"read", "--all", "--consumer-group", "$Default"}, hubArgs...)...)
	if code != 0 {
		t.Fatalf("read --all: exit %d, stderr %q", code, errOut)
	}
	evs = readLinesJSON(t, out)
	if len(evs) != 6 {
		t.Fatalf("read --all printed %d events, want 6:\n%s", len(evs), out)
	}
	var sawJSON, sawBinary bool
	for _, e := range evs {
		switch {
		case fmt.Sprint(e["body"]) == "map[t:21.5]": // a JSON body prints as JSON (--body auto)
			sawJSON = true
			p := e["properties"].(map[string]any)
			if e["partitionKey"] != "dev-1" || p["unit"] != "C" || p["n"] != float64(3) || p["ok"] != true || p["r"] != 0.5 {
				t.Errorf("JSON event = %v", e)
			}
		case e["bodyEncoding"] == "base64":
			sawBinary = true
			if b, _ := base64.StdEncoding.DecodeString(e["body"].(string)); string(b) != binary {
				t.Errorf("binary body came back as %q", b)
			}
		}
	}
	if !sawJSON || !sawBinary {
		t.Errorf("read --all: JSON event seen %v, binary event seen %v", sawJSON, sawBinary)
	}
}

// Mistakes get exit 2 (usage) or 1 with a message that says what is wrong,
// and never the secret.
func TestHubCommandErrors(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "h", PartitionCount: 2})
	secret := "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkw"
	cs := strings.Replace(srv.ConnectionString("h"), "SAS_KEY_VALUE", secret, 1)
	cases := []struct {
		args  []string
		stdin string
		code  int
		says  string
	}{
		// Before the sends: a send whose first line goes out before the
		// next is read (as an interactive sender's does) puts an event in
		// some partition.
		{[]string{"read", "--connection-string", cs, "--range", "0:0:5"}, "", 1, "holds no events"},
		{[]string{"info"}, "", 2, "no connection string"},
		{[]string{"info", "--connection-string", "HostName=x.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + secret}, "", 2, "Event Hub-compatible endpoint"},
		{[]string{"info", "--connection-string", strings.Replace(cs, "Endpoint=sb://", "Endpoint=http://", 1)}, "", 2, "Endpoint"},
		{[]string{"info", "--connection-string", cs, "--hub", "other"}, "", 1, `hub "other"`}, // --hub overrides EntityPath
		{[]string{"send", "--connection-string", cs, "--partition", "0", "--partition-key", "k"}, "", 2, "cannot be used together"},
		{[]string{"send", "--connection-string", cs, "--property", "novalue"}, "", 2, "key=value"},
		{[]string{"send", "--connection-string", cs, "--json"}, "{\"body\":\"a\"}\n{\"bdy\":\"b\"}\n", 1, "line 2"},
		{[]string{"send", "--connection-string", cs, "--json"}, "{\"body\":\"a\",\"properties\":{\"x\":{\"y\":1}}}\n", 1, `property "x"`},
		{[]string{"send", "--connection-string", cs, "--partition", "9"}, "a\n", 1, "partition 9"},
		{[]string{"read", "--connection-string", cs}, "", 2, "--range"},
		{[]string{"read", "--connection-string", cs, "--range", "0:5"}, "", 2, "PARTITION:FROM:UNTIL"},
		{[]string{"read", "--connection-string", cs, "--range", "0:5:1"}, "", 2, "until is below from"},
		{[]string{"read", "--connection-string", cs, "--range", "5:0:1"}, "", 1, "no such partition"},
	}
	for _, c := range cases {
		code, out, errOut := cli(t, c.stdin, c.args...)
		if code != c.code || !strings.Contains(errOut, c.says) {
			t.Errorf("ehstream %v: exit %d, stderr %q; want exit %d saying %q", c.args, code, errOut, c.code, c.says)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("ehstream %v printed the SAS key", c.args)
		}
	}
}

// The commands against `ehstream emulator` as a separate process, with the
// connection string from the environment.
func TestHubCommandsAgainstEmulatorProcess(t *testing.T) {
	emu := startEmulatorProcess(t, "--in-memory")
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ehstream := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), envConnectionString+"="+emu.connStr+";EntityPath=eh1")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("ehstream %v: %v\n%s", args, err, stderr)
		}
		return string(out)
	}
	var lines []string
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("event %d", i))
	}
	if out := ehstream(strings.Join(lines, "\n")+"\n", "send", "--partition", "0"); !strings.Contains(out, "sent 1000 events") {
		t.Fatalf("send: %q", out)
	}
	if out := ehstream("", "info"); !strings.Contains(out, "hub eh1: 2 partitions") || !strings.Contains(out, "999") {
		t.Fatalf("info:\n%s", out)
	}
	evs := readLinesJSON(t, ehstream("", "read", "--range", "0:10:1000"))
	if len(evs) != 990 || evs[0]["body"] != "event 10" || evs[989]["body"] != "event 999" {
		t.Fatalf("read 0:10:1000: %d events", len(evs))
	}
}
