package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator"
)

// The README says to pass --connection-string and --hub; a --hub that
// differs from the string's EntityPath names the hub to use, for every
// command, whether the string comes by flag or from the environment.
func TestHubFlagOverridesEntityPath(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "a", PartitionCount: 2}, emulator.HubConfig{Name: "b", PartitionCount: 1})
	csA := srv.ConnectionString("a")
	flags := []string{"--connection-string", csA, "--hub", "b"}

	code, out, errOut := cli(t, "x\ny\n", append([]string{"send", "--partition", "0"}, flags...)...)
	if code != 0 || !strings.Contains(out, "sent 2 events to hub b") {
		t.Fatalf("send --hub b: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "", append([]string{"info"}, flags...)...)
	if code != 0 || !strings.Contains(out, "hub b: 1 partitions") {
		t.Fatalf("info --hub b: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "", append([]string{"read", "--range", "0:0:2"}, flags...)...)
	if evs := readLinesJSON(t, out); code != 0 || len(evs) != 2 || evs[0]["body"] != "x" {
		t.Fatalf("read --hub b: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "hub.db")
	code, out, errOut = cli(t, "", append([]string{"stream", "--sink", spec, "--until-idle", "--batch-interval", "20ms"}, flags...)...)
	if code != 0 || !strings.Contains(out, "streaming b ") || !strings.Contains(out, "wrote 2 events") {
		t.Fatalf("stream --hub b: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "", append([]string{"offsets", "--sink", spec}, flags...)...)
	if code != 0 || !regexpMatch(`(?m)^archive\s+127\.0\.0\.1\s+b\s+\$default\s+events\s+0\s+2\s+\S+\s+2\s+0\s+-$`, out) {
		t.Fatalf("offsets --hub b: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// From the environment too; and a hub differing only in case is the
	// same hub.
	t.Setenv(envConnectionString, csA)
	code, out, errOut = cli(t, "", "info", "--hub", "B")
	if code != 0 || !strings.Contains(out, "1 partitions") {
		t.Fatalf("info --hub B with the string in $%s: exit %d, stdout %q, stderr %q", envConnectionString, code, out, errOut)
	}
	// A hub that does not exist is named in the error.
	code, _, errOut = cli(t, "", "info", "--hub", "nosuchhub")
	if code == 0 || !strings.Contains(errOut, "nosuchhub") {
		t.Fatalf("info --hub nosuchhub: exit %d, stderr %q", code, errOut)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// --transport and --custom-endpoint refuse values they cannot use, naming
// the flag, the value and what to give instead, before anything connects;
// the local Event Hubs of `ehstream stream` takes neither.
func TestTransportFlagErrors(t *testing.T) {
	cs := "Endpoint=sb://ns.example.com/;SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=h"
	for _, tc := range []struct {
		args []string
		says []string
	}{
		{[]string{"info", "--connection-string", cs, "--transport", "wss"}, []string{`--transport "wss"`, "want amqp or websockets"}},
		{[]string{"send", "--connection-string", cs, "--transport", ""}, []string{`--transport ""`, "want amqp or websockets"}},
		{[]string{"read", "--all", "--connection-string", cs, "--custom-endpoint", "https://gw.example.com/"},
			[]string{"--custom-endpoint https://gw.example.com/", "want HOST or HOST:PORT"}},
		{[]string{"offsets", "--connection-string", cs, "--custom-endpoint", "gw.example.com:0"}, []string{"--custom-endpoint", "not 1 to 65535"}},
		{[]string{"stream", "--transport", "websockets"}, []string{"--transport and --custom-endpoint", "--connection-string"}},
	} {
		code, out, errOut := cli(t, "", tc.args...)
		if code != 2 || out != "" {
			t.Errorf("ehstream %v: exit %d, stdout %q; want exit 2 (usage), nothing printed", tc.args, code, out)
		}
		for _, s := range tc.says {
			if !strings.Contains(errOut, s) {
				t.Errorf("ehstream %v: stderr %q does not say %q", tc.args, errOut, s)
			}
		}
	}
}
