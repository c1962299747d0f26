package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/internal/entratest"
)

// fakeAz puts on PATH an `az` that prints what `az account
// get-access-token` prints, with a token the issuer minted as tok says.
// This machine has no Azure CLI; the credential that runs it, and
// everything after, are the real ones.
func fakeAz(t *testing.T, iss *entratest.Issuer, tok entratest.Token) {
	t.Helper()
	signed, err := iss.Mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, _ := json.Marshal(map[string]any{"accessToken": signed, "expires_on": tok.Expires.Unix()})
	if err := os.WriteFile(filepath.Join(dir, "token.json"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\ncat %q\n", filepath.Join(dir, "token.json"))
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestEntraSignIn: `ehstream emulator --jwt-keys --jwt-role` takes the
// tokens of Microsoft Entra ID's sign-in, and the hub commands sign in
// with --namespace and --credential cli (az login's), trusting the
// emulator's CA with --tls-ca: send, info, read and stream work, and the
// job's positions name the namespace's host. A token for another audience
// is refused within 2 s, the CLI naming the cause.
func TestEntraSignIn(t *testing.T) {
	iss, err := entratest.NewIssuer("cli-key")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jwks, caFile := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "ca.pem")
	if err := iss.WriteJWKS(jwks); err != nil {
		t.Fatal(err)
	}
	e := runEmulatorInProcess(t, "--in-memory", "--listen", "127.0.0.1:0", "--tls-self-signed", "--tls-ca-out", caFile, "--tls-listen", "127.0.0.1:0",
		"--jwt-keys", jwks, "--jwt-role", "app-oid=owner")
	if keys := e.printed(t, `(?m)^JWT keys: +(\S+);`); keys != "cli-key" {
		t.Errorf("the emulator says its JWT keys are %q", keys)
	}
	if cs := e.printed(t, `(?m)^connection string: (.+)$`); !strings.HasPrefix(cs, "none (no --sas-policy") {
		t.Errorf("with JWT keys alone the emulator prints the connection string %q, which no key signs", cs)
	}
	_, port, _ := net.SplitHostPort(e.printed(t, `(?m)^TLS \(amqps\): +(\S+)`))
	signIn := []string{"--namespace", "localhost:" + port, "--hub", "eh1", "--credential", "cli", "--tls-ca", caFile}
	fakeAz(t, iss, entratest.Token{Audience: "https://eventhubs.azure.net/", Principal: "app-oid", Expires: time.Now().Add(time.Hour)})

	code, out, errOut := cli(t, "a\nb\nc\n", append([]string{"send", "--partition", "1"}, signIn...)...)
	if code != 0 || !strings.Contains(out, "sent 3 events to hub eh1") {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "", append([]string{"info"}, signIn...)...)
	if code != 0 || !strings.Contains(out, "hub eh1: 2 partitions") {
		t.Fatalf("info: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "", append([]string{"read", "--range", "1:0:3"}, signIn...)...)
	if evs := readLinesJSON(t, out); code != 0 || len(evs) != 3 || evs[2]["body"] != "c" {
		t.Fatalf("read: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	spec := "sqlite:" + filepath.Join(dir, "entra.db")
	code, out, errOut = cli(t, "", append([]string{"stream", "--sink", spec, "--until-idle", "--batch-interval", "20ms"}, signIn...)...)
	if code != 0 || !strings.Contains(out, "wrote 3 events") {
		t.Fatalf("stream: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "", append([]string{"offsets", "--sink", spec}, signIn...)...)
	if code != 0 || !regexpMatch(`(?m)^archive\s+localhost\s+eh1\s+\$default\s+events\s+1\s+3\s+`, out) {
		t.Fatalf("offsets: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	fakeAz(t, iss, entratest.Token{Audience: "https://storage.azure.com", Principal: "app-oid", Expires: time.Now().Add(time.Hour)})
	began := time.Now()
	code, _, errOut = cli(t, "", append([]string{"info", "--operation-timeout", "1m"}, signIn...)...)
	if took := time.Since(began); code == 0 || took > 2*time.Second ||
		!strings.Contains(errOut, "wrong audience: the token is for 'https://storage.azure.com', and Event Hubs takes 'https://eventhubs.azure.net/'") {
		t.Fatalf("info with a token for storage: exit %d after %s, stderr %q; want a failure within 2s naming the audiences", code, took, errOut)
	}
	if strings.Contains(errOut, "eyJ") {
		t.Errorf("the error shows the token: %s", errOut)
	}

	// No az at all: the credential gets no token, which is said at once.
	t.Setenv("PATH", t.TempDir())
	began = time.Now()
	code, _, errOut = cli(t, "", append([]string{"info", "--operation-timeout", "1m"}, signIn...)...)
	if took := time.Since(began); code == 0 || took > 2*time.Second || !strings.Contains(errOut, "the credential got no token: AzureCLICredential") {
		t.Fatalf("info without az: exit %d after %s, stderr %q; want a failure within 2s naming the credential's error", code, took, errOut)
	}
}

// TestEntraFlagErrors: the sign-in flags refuse two ways to sign in, half
// of one and unknown kinds, naming the cure; the emulator's JWT flags
// refuse roles without keys and unknown roles.
func TestEntraFlagErrors(t *testing.T) {
	t.Setenv(envConnectionString, "")
	ca := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(ca, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", "--connection-string", "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=a2V5", "--namespace", "ns.servicebus.windows.net", "--hub", "h"},
			"--connection-string and --namespace both say where to sign in: give one"},
		{[]string{"info", "--credential", "cli", "--hub", "h"}, "--credential cli needs --namespace NAME.servicebus.windows.net"},
		{[]string{"info", "--namespace", "ns.servicebus.windows.net"}, "--namespace ns.servicebus.windows.net needs --hub"},
		{[]string{"stream", "--namespace", "ns.servicebus.windows.net"}, "--namespace ns.servicebus.windows.net needs --hub"},
		{[]string{"stream", "--credential", "cli"}, "--credential cli needs --namespace"},
		{[]string{"info", "--namespace", "ns.servicebus.windows.net", "--hub", "h", "--credential", "msi"},
			`--credential: unknown credential "msi": want one of default, workload, managed-identity, cli, env`},
		{[]string{"send", "--namespace", "sb://ns.servicebus.windows.net/", "--hub", "h"},
			`--namespace sb://ns.servicebus.windows.net/: namespace "sb://ns.servicebus.windows.net/": want the host alone`},
		{[]string{"read", "--range", "0:0:1", "--namespace", "ns.servicebus.windows.net", "--hub", "h", "--credential", "cli", "--tls-ca", ca},
			"--tls-ca " + ca + ": no PEM certificate in it"},
		{[]string{"stream", "--namespace", "ns.servicebus.windows.net", "--hub", "h", "--credential", "workload"}, "AZURE_CLIENT_ID"},
		{[]string{"info"}, "or sign in with Microsoft Entra ID: --namespace NAME.servicebus.windows.net --hub HUB"},
		{[]string{"stream", "--connection-string", "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=a2V5;EntityPath=h", "--ownership", "blob:https://acct.blob.core.windows.net/ckpt"},
			"--ownership blob:https://acct.blob.core.windows.net/ckpt signs in with Microsoft Entra ID: sign in to the hub with --namespace and --credential"},
		{[]string{"emulator", "--in-memory", "--jwt-role", "x=owner"}, "--jwt-role needs --jwt-keys FILE"},
		{[]string{"emulator", "--in-memory", "--jwt-role", "x=admin"}, `role "admin" of principal "x": want sender, receiver or owner`},
		{[]string{"emulator", "--in-memory", "--jwt-keys", ca}, "--jwt-keys: emulator: JWT keys " + ca + ": not a JSON Web Key Set"},
	} {
		t.Setenv("AZURE_CLIENT_ID", "")
		code, _, errOut := cli(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
