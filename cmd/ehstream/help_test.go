package main

import (
	"net"
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator"
)

// Help asked for is the answer, not a mistake: on standard output (so
// that `ehstream stream -h | less` shows it), exit status 0, whichever
// way it is asked; help never asked for (no command) is a usage error.
func TestHelpOnStdout(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			code, out, errOut := cli(t, "", args...)
			if code != 0 || errOut != "" || !strings.Contains(out, "ehstream "+c.name) {
				t.Errorf("ehstream %s: exit %d, stdout %q, stderr %q; want exit 0 and the command's usage on stdout only",
					strings.Join(args, " "), code, head(out), head(errOut))
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, out, errOut := cli(t, "", args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "commands:") || !strings.Contains(out, "ehstream help <command>") {
			t.Errorf("ehstream %s: exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout only", args[0], code, head(out), head(errOut))
		}
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{nil, "commands:"},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"stream", "--nosuch"}, "flag provided but not defined: -nosuch"},
	} {
		code, out, errOut := cli(t, "", c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.says) {
			t.Errorf("ehstream %v: exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr only", c.args, code, head(out), head(errOut), c.says)
		}
	}
}

// head is the start of s, for a message.
func head(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// A connection string without EntityPath and no --hub: the error names
// the flag that names the hub, not the Go call behind it.
func TestNoHubNamesTheFlag(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "h", PartitionCount: 1})
	cs := strings.TrimSuffix(srv.ConnectionString("h"), ";EntityPath=h")
	if cs == srv.ConnectionString("h") {
		t.Fatalf("connection string %q: want one ending ;EntityPath=h", cs)
	}
	for _, args := range [][]string{
		{"info", "--connection-string", cs},
		{"read", "--connection-string", cs, "--all"},
		{"send", "--connection-string", cs},
		{"stream", "--connection-string", cs, "--sink", "sqlite:" + t.TempDir() + "/x.db"},
	} {
		code, _, errOut := cli(t, "a\n", args...)
		if code != 2 || !strings.Contains(errOut, "--hub") || strings.Contains(errOut, "SetEventHubName") {
			t.Errorf("ehstream %s: exit %d, stderr %q; want exit 2 naming --hub, not SetEventHubName", args[0], code, errOut)
		}
	}
}

// A hub that never answers: the timeout is named by its flag, as the
// command was given it, in text and in JSON logs.
func TestTimeoutsNameTheirFlags(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accepts, and says nothing
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cs := "Endpoint=sb://" + l.Addr().String() + ";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=h"
	for _, args := range [][]string{
		{"info", "--connection-string", cs, "--operation-timeout", "1s"},
		{"read", "--connection-string", cs, "--operation-timeout", "1s", "--all", "--log-format", "json"},
	} {
		code, _, errOut := cli(t, "", args...)
		if code != 1 || !strings.Contains(errOut, "--operation-timeout (1s)") || strings.Contains(errOut, "OperationTimeout") {
			t.Errorf("ehstream %s: exit %d, stderr %q; want exit 1 naming --operation-timeout (1s), not OperationTimeout", args[0], code, errOut)
		}
	}
}
