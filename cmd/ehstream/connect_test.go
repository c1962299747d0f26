package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

// cliCannotConnectWithin is how soon a command must say that it cannot
// connect: at the first failure, not after --operation-timeout's retries.
const cliCannotConnectWithin = 2 * time.Second

// childEnv is this process's environment without the variables that
// choose the certificates a child trusts: it trusts the system's alone.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
			envConnectionString:
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runBinary runs the built ehstream with args, stdin and env, and returns
// its exit code, output and how long it ran.
func runBinary(t *testing.T, env []string, stdin string, args ...string) (code int, stdout, stderr string, took time.Duration) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err = cmd.Run()
	took = time.Since(start)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("ehstream %v: %v", args, err)
	}
	return code, out.String(), errOut.String(), took
}

// TestCommandsCannotConnect: every command that connects to a hub fails
// within 2 s, with --operation-timeout at 30 s, naming the cause: a port
// that refuses connections, a server whose certificate the client does not
// trust.
func TestCommandsCannotConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	ss, err := emulator.SelfSignedTLS("", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{TLS: ss.ServerConfig(), TLSListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	for _, end := range []struct{ name, connStr, says string }{
		{"refused", "Endpoint=sb://" + closed + ";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=eh1", "connection refused"},
		{"untrusted", srv.TLSConnectionString("eh1"), "x509: certificate signed by unknown authority"},
	} {
		sink := "sqlite:" + filepath.Join(t.TempDir(), "out.db")
		for _, args := range [][]string{
			{"info"},
			{"read", "--all"},
			{"stream", "--sink", sink, "--http", "", "--until-idle"},
			{"send"},
		} {
			t.Run(end.name+" "+args[0], func(t *testing.T) {
				args = append(args, "--connection-string", end.connStr, "--operation-timeout", "30s")
				code, out, errOut, took := runBinary(t, childEnv(), "x\n", args...)
				if code != 1 || !strings.Contains(errOut, end.says) || !strings.Contains(errOut, "cannot connect to ") {
					t.Fatalf("ehstream %s: exit %d after %s, stdout %q, stderr:\n%s\nwant exit 1 naming %q",
						args[0], code, took, out, errOut, end.says)
				}
				if took > cliCannotConnectWithin {
					t.Fatalf("ehstream %s took %s to fail, want within %s:\n%s", args[0], took, cliCannotConnectWithin, errOut)
				}
				t.Logf("ehstream %s failed in %s: %s", args[0], took.Round(time.Millisecond), strings.TrimSpace(errOut))
			})
		}
	}
}
