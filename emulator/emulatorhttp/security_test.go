package emulatorhttp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	"github.com/ehstream/ehstream/internal/browsertest"
)

// TestEndpointsRefuseForeignHost: every endpoint answers a request whose
// Host is not a name of the emulator (a page of another site whose name
// resolves to 127.0.0.1: DNS rebinding) with 403, and serves the names
// it is reached by.
func TestEndpointsRefuseForeignHost(t *testing.T) {
	srv := start(t, &emulator.Config{})
	base := serve(t, srv, emulatorhttp.Options{Faults: true})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, path := range []string{"/", "/static/app.js", "/api/hubs", "/metrics", "/health", "/faults"} {
		for host, want := range map[string]int{
			"evil.example:" + port: http.StatusForbidden,
			"evil.example":         http.StatusForbidden,
			"127.0.0.1.nip.io":     http.StatusForbidden,
			"127.0.0.1:" + port:    http.StatusOK,
			"localhost:" + port:    http.StatusOK,
			"LOCALHOST.":           http.StatusOK,
			"[::1]:" + port:        http.StatusOK,
		} {
			req, err := http.NewRequest("GET", base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s with Host %s: %s, want %d\n%.300s", path, host, resp.Status, want, body)
			}
			if want == http.StatusForbidden && !strings.Contains(string(body), "DNS rebinding") {
				t.Errorf("GET %s with Host %s: the refusal does not say why: %s", path, host, body)
			}
		}
	}
}

// TestPageRefusesOtherSitesInBrowser: in headless Chromium, a page of
// another origin that posts to /faults (a no-cors fetch of text/plain, a
// form of text/plain and one URL-encoded, a CORS fetch of JSON) and a
// page that reaches the emulator through a name of its own (DNS
// rebinding: evil.example resolves to 127.0.0.1) inject nothing and read
// nothing, while the emulator's own page, by 127.0.0.1 and by localhost,
// still works and may post to /faults. It skips without Chromium, unless
// EHSTREAM_TEST_BROWSER=1.
func TestPageRefusesOtherSitesInBrowser(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	bctx, _ := browsertest.Start(t, ctx, 1200, 900,
		// evil.example is the attacker's name, rebound to this machine.
		chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1"),
		// Keep Chromium from trying https:// first for a name.
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		browsertest.ScreenshotOnFailure(t, sctx)
	})
	srv := start(t, &emulator.Config{})
	emu := serve(t, srv, emulatorhttp.Options{Faults: true})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(emu, "http://"))
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		enctype := map[string]string{"/form-text": "text/plain", "/form-urlencoded": "application/x-www-form-urlencoded"}[r.URL.Path]
		if enctype == "" {
			fmt.Fprint(w, `<!doctype html><title>another site</title>`)
			return
		}
		// A text/plain form sends name=value: valid JSON split at a '='
		// that a string in it may hold.
		fmt.Fprintf(w, `<!doctype html><form method="POST" action="%s/faults" enctype="%s">
<input name='{"kind":"detach-receivers","condition":"amqp:link:detach' value='forced"}'></form>
<script>document.forms[0].submit()</script>`, emu, enctype)
	}))
	t.Cleanup(evil.Close)

	injected := func() int64 {
		var n int64
		for _, c := range srv.Stats().Faults.Injected {
			n += c
		}
		return n
	}
	// bodyText waits until the tab shows a document at a URL starting
	// with prefix (after any navigation the page itself starts) and
	// returns its text.
	bodyText := func(prefix string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			// Fails while a navigation replaces the document: poll again.
			got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`document.readyState === "complete" ? [location.href, document.body.innerText] : []`))
			if err == nil && len(got) == 2 && strings.HasPrefix(got[0], prefix) {
				return got[1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no document from %s within 15s: %q %v", prefix, got, err)
			}
			time.Sleep(50 * time.Millisecond) // the poll's period, not a synchronisation
		}
	}
	open := func(url string) string {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
			t.Fatalf("loading %s: %v", url, err)
		}
		return bodyText(url)
	}
	post := `(async (url, opts) => { try { const r = await fetch(url, opts); return "status " + r.status + " " + r.type; } catch (e) { return "failed: " + e; } })`

	// Fetches from another origin.
	open(evil.URL + "/")
	for name, opts := range map[string]string{
		"no-cors text/plain": `{method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '{"kind":"delay-frames","delay":"59s"}'}`,
		"CORS JSON":          `{method: "POST", headers: {"Content-Type": "application/json"}, body: '{"kind":"delay-frames","delay":"59s"}'}`,
		"CORS DELETE":        `{method: "DELETE"}`,
	} {
		got, err := chromedp.Run(bctx, chromedp.Evaluate[string](post+`(`+"`"+emu+"/faults`"+`, `+opts+`)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s from another origin: %s", name, got)
		if strings.HasPrefix(got, "status 200") {
			t.Errorf("%s from another origin: %s, want it refused", name, got)
		}
	}
	// Forms of another origin: the browser shows the emulator's answer.
	for _, path := range []string{"/form-text", "/form-urlencoded"} {
		if err := chromedp.Do(bctx, chromedp.Navigate(evil.URL+path)); err != nil {
			t.Fatalf("form %s: %v", path, err)
		}
		if text := bodyText(emu + "/faults"); !strings.Contains(text, "from another origin") {
			t.Errorf("form %s: the emulator answered %q, want a refusal of another origin", path, text)
		}
	}

	// DNS rebinding: the attacker's name, this machine's address. Its page
	// is "same origin" with the emulator, yet can neither read nor post.
	rebound := "http://evil.example:" + port
	if text := open(rebound + "/api/hubs"); !strings.Contains(text, "not a name of this emulator") || strings.Contains(text, `"hubs"`) {
		t.Errorf("GET /api/hubs through evil.example: %q, want a refusal", text)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[string](post+`("/faults", {method: "POST", headers: {"Content-Type": "application/json"}, body: '{"kind":"delay-frames","delay":"59s"}'})`, chromedp.EvalAwaitPromise))
	if err != nil || got != "status 403 basic" {
		t.Errorf("POST /faults from the rebound page: %q %v, want status 403", got, err)
	}
	if n := injected(); n != 0 || len(srv.Faults()) != 0 {
		t.Fatalf("pages of other sites injected %d faults: %+v", n, srv.Faults())
	}

	// The emulator's own page, by both names, shows the hubs and may post.
	for _, base := range []string{emu, "http://localhost:" + port} {
		if err := chromedp.Do(bctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`section.hub[data-hub="eh1"]`))); err != nil {
			t.Fatalf("the page at %s: %v", base, err)
		}
		got, err := chromedp.Run(bctx, chromedp.Evaluate[string](post+`("/faults", {method: "POST", headers: {"Content-Type": "application/json"}, body: '{"kind":"server-busy","duration":"1h"}'})`, chromedp.EvalAwaitPromise))
		if err != nil || got != "status 200 basic" {
			t.Errorf("POST /faults from the page at %s: %q %v, want status 200", base, got, err)
		}
	}
	if n := srv.Stats().Faults.Injected[emulator.FaultServerBusy]; n != 2 || injected() != 2 {
		t.Errorf("the page's own posts injected %d server-busy faults (%d in all), want 2", n, injected())
	}
}
