package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

const (
	cliKeyApp = "Y2xpLWFwcC1rZXktMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG0="
	cliKeyOps = "Y2xpLW9wcy1rZXktMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG0="
)

// TestEmulatorSASPolicyFlagErrors: a bad --sas-policy stops the emulator
// before it listens, with a usage error that says what is wrong and quotes
// no key.
func TestEmulatorSASPolicyFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		policies []string
		want     string
	}{
		{[]string{"app="}, "empty key"},
		{[]string{"app=" + cliKeyApp[:12] + ":"}, "right 1 after the last ':' is not send, listen or manage"},
		{[]string{"=" + cliKeyApp}, "policy name is empty"},
		{[]string{"app=" + cliKeyApp + ":send,lsiten"}, "right 2 after the last ':' is not send, listen or manage"},
		{[]string{cliKeyApp}, "is NAME= missing?"},
		{[]string{"no-equals-sign"}, "no '='"},
		{[]string{"app=" + cliKeyApp, "app=" + cliKeyOps}, `--sas-policy: policy "app" is given twice`},
	} {
		args := []string{"emulator", "--in-memory", "--listen", "127.0.0.1:0"}
		for _, p := range tc.policies {
			args = append(args, "--sas-policy", p)
		}
		var out, errOut strings.Builder
		code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("--sas-policy %q: exit %d, stderr %q; want 2 and %q", tc.policies, code, errOut.String(), tc.want)
		}
		for _, secret := range []string{cliKeyApp, cliKeyApp[:12], cliKeyApp[12:], cliKeyOps, "lsiten"} {
			if strings.Contains(errOut.String()+out.String(), secret) {
				t.Errorf("--sas-policy %q: the output quotes %q: %s", tc.policies, secret, errOut.String())
			}
		}
		if strings.Contains(out.String(), "listening") {
			t.Errorf("--sas-policy %q: it started listening: %s", tc.policies, out.String())
		}
	}
}

// TestEmulatorRefusesExposedListener: --listen on every interface is
// refused before anything listens, saying why and naming --insecure;
// a SAS policy alone is not enough, as the AMQP listener has no TLS.
func TestEmulatorRefusesExposedListener(t *testing.T) {
	for _, tc := range []struct {
		extra []string
		want  []string
	}{
		{nil, []string{"refusing to listen on 0.0.0.0:0", "not a loopback address", "without TLS", "no SAS policy", "--insecure"}},
		{[]string{"--sas-policy", "app=" + cliKeyApp}, []string{"refusing to listen on 0.0.0.0:0", "without TLS", "--insecure"}},
	} {
		args := append([]string{"emulator", "--in-memory", "--listen", "0.0.0.0:0"}, tc.extra...)
		var out, errOut strings.Builder
		// A context that has ended: were the check missing, Start would fail
		// on it before listening, rather than serve every interface.
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		code := run(ended, args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code != 1 || out.String() != "" {
			t.Errorf("%v: exit %d, stdout %q; want 1 and nothing printed (nothing listened)", args, code, out.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%v: stderr %q does not say %q", args, errOut.String(), w)
			}
		}
		if strings.Contains(errOut.String(), cliKeyApp) {
			t.Errorf("%v: stderr shows the key", args)
		}
	}
}

// startCLIEmulator runs `ehstream emulator` in memory on a free port
// until the test ends, which it must survive, and returns its start-up
// output and its stderr.
func startCLIEmulator(t *testing.T, extra ...string) (startup string, stderr *lockedBuffer) {
	t.Helper()
	e := runEmulatorInProcess(t, append([]string{"--in-memory", "--listen", "127.0.0.1:0"}, extra...)...)
	t.Cleanup(func() {
		if code := e.stop(); code != 0 {
			t.Errorf("ehstream emulator exited %d: %s", code, e.stderr.String())
		}
	})
	return e.out, e.stderr
}

// TestEmulatorAuthModes: without --sas-policy the emulator says it is in
// development mode; with policies it names them and their rights, prints
// a connection string without the key, and a client with the key works
// while a wrong key is refused, nothing printing a key.
func TestEmulatorAuthModes(t *testing.T) {
	dev, devLog := startCLIEmulator(t)
	if !strings.Contains(dev, "development mode: any key is accepted") || !strings.Contains(devLog.String(), "development mode: any key is accepted") {
		t.Errorf("without --sas-policy, stdout and the log should say development mode:\n%s\n%s", dev, devLog.String())
	}

	out, logs := startCLIEmulator(t, "--sas-policy", "app="+cliKeyApp+":send,listen", "--sas-policy", "ops="+cliKeyOps)
	for _, want := range []string{"SAS policies:      app (send,listen), ops (send,listen,manage)", "SharedAccessKeyName=app;SharedAccessKey=<KEY>;UseDevelopmentEmulator=true"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "development mode") {
		t.Errorf("with policies, stdout still says development mode:\n%s", out)
	}
	addr := regexp.MustCompile(`listening on (\S+) `).FindStringSubmatch(out)[1]
	ctx := testContext(t, 30*time.Second)
	props := func(name, key string) error {
		c, err := azeventhubs.NewConsumerClientFromConnectionString("Endpoint=sb://"+addr+";SharedAccessKeyName="+name+";SharedAccessKey="+key+";UseDevelopmentEmulator=true", "eh1", "$Default", nil)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.GetEventHubProperties(ctx, nil)
		return err
	}
	if err := props("ops", cliKeyOps); err != nil {
		t.Errorf("with policy ops and its key: %v", err)
	}
	if err := props("app", cliKeyOps); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Errorf("with policy app and ops's key: %v, want a refusal for a bad signature", err)
	}
	if !strings.Contains(logs.String(), "put-token refused") {
		t.Errorf("the log does not show the refusal:\n%s", logs.String())
	}
	for _, key := range []string{cliKeyApp, cliKeyOps} {
		if strings.Contains(out+logs.String(), key) {
			t.Errorf("the output shows a key:\n%s\n%s", out, logs.String())
		}
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestEmulatorPrintsNoKey: with --sas-policy and everything that prints
// (TLS, WebSockets, --http, debug logs in text and in JSON), neither the
// start-up lines, nor the logs of clients with the right key and a wrong
// one, nor the status endpoints show a key in any form; the TLS
// connection string, like the plain one, shows <KEY>.
func TestEmulatorPrintsNoKey(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			e := runEmulatorInProcess(t, "--in-memory", "--listen", "127.0.0.1:0", "--log-level", "debug", "--log-format", format,
				"--sas-policy", "app="+cliKeyApp, "--sas-policy", "ops="+cliKeyOps+":listen",
				"--tls-self-signed", "--tls-ca-out", caFile, "--tls-listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
			tlsCS := e.printed(t, `(?m)^connection string \(TLS\): (\S+)$`)
			if !strings.HasSuffix(tlsCS, ";SharedAccessKeyName=app;SharedAccessKey=<KEY>") {
				t.Errorf("TLS connection string %q: want the policy's name and <KEY>", tlsCS)
			}
			endpoint, _, _ := strings.Cut(tlsCS, ";")
			ctx := testContext(t, 30*time.Second)
			for key, ok := range map[string]bool{cliKeyApp: true, cliKeyOps: false} {
				c, err := azeventhubs.NewConsumerClientFromConnectionString(endpoint+";SharedAccessKeyName=app;SharedAccessKey="+key, "eh1", "$Default",
					&azeventhubs.ConsumerClientOptions{TLSConfig: trustCA(t, caFile)})
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.GetEventHubProperties(ctx, nil)
				c.Close(context.Background())
				if (err == nil) != ok {
					t.Errorf("over TLS with the key of %v: %v", map[bool]string{true: "app", false: "ops"}[ok], err)
				}
			}
			base := strings.TrimSuffix(e.printed(t, `(?m)^status page: +(\S+)$`), "/")
			var served strings.Builder
			for _, path := range []string{"/", "/api/hubs", "/metrics", "/faults"} {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				served.Write(b)
			}
			if code := e.stop(); code != 0 {
				t.Fatalf("exit %d: %s", code, e.stderr)
			}
			if !strings.Contains(e.stderr.String(), "put-token") {
				t.Fatalf("the debug log shows no put-token, so it proves little:\n%s", e.stderr)
			}
			all := e.out + e.stderr.String() + served.String()
			for _, key := range []string{cliKeyApp, cliKeyOps} {
				for _, form := range []string{key, url.QueryEscape(key), strings.ToLower(url.QueryEscape(key)), strings.TrimRight(key, "=")} {
					if strings.Contains(all, form) {
						t.Errorf("the output shows a key (%.6s...):\n%s", key, all)
					}
				}
			}
		})
	}
}
