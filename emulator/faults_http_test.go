package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

type apiFault struct {
	ID        int64   `json:"id"`
	Kind      string  `json:"kind"`
	Hub       string  `json:"hub"`
	Partition string  `json:"partition"`
	Condition string  `json:"condition"`
	Duration  string  `json:"duration"`
	Delay     string  `json:"delay"`
	Started   string  `json:"started"`
	Ends      *string `json:"ends"`
	Hits      int64   `json:"hits"`
}

type apiAnswer struct {
	Active   []apiFault `json:"active"`
	Injected []apiFault `json:"injected"`
	Removed  *int       `json:"removed"`
	Error    string     `json:"error"`
	Stats    struct {
		Injected           map[string]int64 `json:"injected"`
		ConnectionsDropped int64            `json:"connectionsDropped"`
		ReceiversDetached  int64            `json:"receiversDetached"`
		SendsRejected      int64            `json:"sendsRejected"`
	} `json:"stats"`
}

func call(t *testing.T, method, url, body string) (int, apiAnswer) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" || method == "PUT" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a apiAnswer
	if resp.StatusCode != http.StatusMethodNotAllowed {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q, body %s", method, url, ct, b)
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, url, err, b)
		}
	}
	return resp.StatusCode, a
}

// The admin API: POST injects (one object or an array), GET lists what is
// in effect and the counts, DELETE removes one or all; bad input is a 400
// naming the bad value, and injects nothing.
func TestFaultsAdminAPI(t *testing.T) {
	srv := start(t, nil)
	api := httptest.NewServer(srv.FaultsHandler())
	defer api.Close()
	url := api.URL + "/faults"

	code, a := call(t, "GET", url, "")
	if code != 200 || a.Active == nil || len(a.Active) != 0 {
		t.Fatalf("GET with no faults: %d %+v, want 200 and an empty list", code, a)
	}

	code, a = call(t, "POST", url, `{"kind":"server-busy","duration":"1h"}`)
	if code != 200 || len(a.Injected) != 1 || a.Injected[0].Kind != "server-busy" || a.Injected[0].Duration != "1h0m0s" || a.Injected[0].Ends == nil {
		t.Fatalf("POST one fault: %d %+v", code, a)
	}
	busy := a.Injected[0].ID

	code, a = call(t, "POST", url, `[
		{"kind":"detach-receivers","hub":"eh1","partition":"0"},
		{"kind":"pause-partition","hub":"eh1","partition":"1"},
		{"kind":"delay-frames","delay":"1ms","duration":"1h"}]`)
	if code != 200 || len(a.Injected) != 3 {
		t.Fatalf("POST an array: %d %+v", code, a)
	}
	if d := a.Injected[0]; d.Kind != "detach-receivers" || d.Condition != emulator.DefaultDetachCondition || d.Hits != 0 {
		t.Fatalf("POST detach-receivers with no receivers: %+v, want the default condition and 0 hits", d)
	}
	if p := a.Injected[1]; p.Ends != nil || p.Duration != "" {
		t.Fatalf("POST pause-partition without a duration: %+v, want no end", p)
	}
	pause := a.Injected[1].ID

	code, a = call(t, "GET", url, "")
	if code != 200 || len(a.Active) != 3 || a.Active[0].ID != busy || a.Active[1].ID != pause || a.Active[2].Kind != "delay-frames" {
		t.Fatalf("GET: %d %+v, want server-busy, pause-partition and delay-frames in effect (a detach fires once)", code, a)
	}
	if a.Stats.Injected["detach-receivers"] != 1 || a.Stats.Injected["server-busy"] != 1 {
		t.Fatalf("GET stats: %+v", a.Stats)
	}
	if _, err := time.Parse(time.RFC3339, a.Active[0].Started); err != nil {
		t.Fatalf("started %q is not RFC 3339", a.Active[0].Started)
	}

	if code, a = call(t, "DELETE", fmt.Sprintf("%s/%d", url, pause), ""); code != 200 || a.Removed == nil || *a.Removed != 1 {
		t.Fatalf("DELETE one: %d %+v", code, a)
	}
	if code, a = call(t, "DELETE", fmt.Sprintf("%s/%d", url, pause), ""); code != 404 || !strings.Contains(a.Error, fmt.Sprint("no fault ", pause)) {
		t.Fatalf("DELETE it again: %d %+v, want 404", code, a)
	}
	if code, a = call(t, "DELETE", url+"/x1", ""); code != 400 || !strings.Contains(a.Error, `"x1"`) {
		t.Fatalf("DELETE a bad id: %d %+v, want 400 naming it", code, a)
	}
	if code, a = call(t, "DELETE", url, ""); code != 200 || a.Removed == nil || *a.Removed != 2 {
		t.Fatalf("DELETE all: %d %+v, want 2 removed", code, a)
	}
	if code, a = call(t, "GET", url, ""); code != 200 || len(a.Active) != 0 {
		t.Fatalf("GET after DELETE: %d %+v", code, a)
	}
	if code, _ := call(t, "PUT", url, `{}`); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d, want 405", code)
	}

	bad := []struct{ body, says string }{
		{`{"kind":"server-busy",`, "not valid JSON"},
		{`nonsense`, "not valid JSON"},
		{``, "no fault"},
		{`{"kind":"earthquake"}`, `kind "earthquake" is unknown`},
		{`{"kind":"server-busy","duration":"-5s"}`, "duration -5s is negative"},
		{`{"kind":"pause-partition","hub":"eh9","duration":"1s"}`, `hub "eh9" is not served`},
		{`{"kind":"pause-partition","hub":"eh1","partition":"2"}`, `no partition "2"`},
		{`{"kind":"delay-frames","delay":"soon"}`, `"soon" is not a Go duration`},
		{`{"kind":"drop-connections","hub":"eh1"}`, `hub "eh1"`},
		{`{"kind":"server-busy","color":"red"}`, `field "color" is unknown`},
		{`[{"kind":"server-busy","duration":"1h"},{"kind":"pause-partition","hub":"nope"}]`, `hub "nope"`},
	}
	for _, c := range bad {
		code, a := call(t, "POST", url, c.body)
		if code != 400 || !strings.Contains(a.Error, c.says) {
			t.Errorf("POST %s: %d %q, want 400 saying %q", c.body, code, a.Error, c.says)
		}
	}
	if code, a := call(t, "POST", url, `{"kind":"server-busy","hub":"`+strings.Repeat("x", 2<<20)+`"}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of 2 MiB: %d %q, want 413", code, a.Error)
	}
	if active := srv.Faults(); len(active) != 0 {
		t.Fatalf("refused POSTs injected %+v", active)
	}
}

// TestFaultsAPIRefusesWebPages: what a web page of another site can send
// injects nothing: a cross-origin POST or DELETE (by Origin or
// Sec-Fetch-Site) is 403, a POST that is not JSON (text/plain, a form)
// 415, and any request whose Host is not a name of the emulator (DNS
// rebinding) 403. Programs (no Origin), the emulator's own origin and
// every name it is reached by still work.
func TestFaultsAPIRefusesWebPages(t *testing.T) {
	srv := start(t, nil)
	api := httptest.NewServer(srv.FaultsHandler())
	defer api.Close()
	url := api.URL + "/faults"
	_, port, _ := net.SplitHostPort(api.Listener.Addr().String())
	const delay = `{"kind":"delay-frames","delay":"59s"}`
	type req struct {
		name, method, host, contentType, body string
		headers                               map[string]string
	}
	do := func(r req) (int, string) {
		t.Helper()
		hr, err := http.NewRequest(r.method, url, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if r.host != "" {
			hr.Host = r.host
		}
		if r.contentType != "" {
			hr.Header.Set("Content-Type", r.contentType)
		}
		for k, v := range r.headers {
			hr.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	evil := map[string]string{"Origin": "https://evil.example"}
	for _, tc := range []struct {
		req
		code int
		says string
	}{
		{req{"foreign origin, text/plain", "POST", "", "text/plain", delay, evil}, 403, "from another origin"},
		{req{"foreign origin, JSON", "POST", "", "application/json", delay, evil}, 403, "from another origin"},
		{req{"foreign origin, form", "POST", "", "application/x-www-form-urlencoded", delay + "=", evil}, 403, "from another origin"},
		{req{"origin null", "POST", "", "application/json", delay, map[string]string{"Origin": "null"}}, 403, "from another origin"},
		{req{"cross-site fetch", "POST", "", "application/json", delay, map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "from another origin"},
		{req{"same-site page on another port", "POST", "", "application/json", delay,
			map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}}, 403, "from another origin"},
		{req{"text/plain without origin", "POST", "", "text/plain", delay, nil}, 415, "needs Content-Type: application/json"},
		{req{"form without origin", "POST", "", "application/x-www-form-urlencoded", delay + "=", nil}, 415, "not \\\"application/x-www-form-urlencoded"},
		{req{"multipart", "POST", "", "multipart/form-data; boundary=x", "--x\r\n\r\n" + delay + "\r\n--x--", nil}, 415, "needs Content-Type"},
		{req{"no content type", "POST", "", "", delay, nil}, 415, "needs Content-Type"},
		{req{"foreign host", "POST", "evil.example:" + port, "application/json", delay, nil}, 403, "evil.example:" + port + "\\\" is not a name of this emulator"},
		{req{"rebound page, same origin", "POST", "evil.example:" + port, "application/json", delay,
			map[string]string{"Origin": "http://evil.example:" + port, "Sec-Fetch-Site": "same-origin"}}, 403, "DNS rebinding"},
		{req{"foreign host reading", "GET", "evil.example:" + port, "", "", nil}, 403, "not a name of this emulator"},
		{req{"foreign origin deleting", "DELETE", "", "", "", evil}, 403, "from another origin"},
	} {
		code, body := do(tc.req)
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, code, body, tc.code, tc.says)
		}
	}
	if n := srv.Stats().Faults.Injected[emulator.FaultDelayFrames]; n != 0 || len(srv.Faults()) != 0 {
		t.Fatalf("refused requests injected %d delay-frames faults: %+v", n, srv.Faults())
	}

	// Programs and the emulator's own page, by every name of the emulator.
	busy := `{"kind":"server-busy","duration":"1h"}`
	allowed := []req{
		{"a program", "POST", "", "application/json", busy, nil},
		{"with a charset", "POST", "", "application/json; charset=utf-8", busy, nil},
		{"own origin", "POST", "", "application/json", busy, map[string]string{"Origin": api.URL, "Sec-Fetch-Site": "same-origin"}},
		{"localhost", "POST", "localhost:" + port, "application/json", busy, nil},
		{"::1", "POST", "[::1]:" + port, "application/json", busy, nil},
		{"a program deleting", "DELETE", "", "", "", nil},
	}
	for _, r := range allowed {
		if code, body := do(r); code != 200 {
			t.Errorf("%s: %d %s, want 200", r.name, code, body)
		}
	}
	if n := srv.Stats().Faults.Injected[emulator.FaultServerBusy]; n != int64(len(allowed)-1) || len(srv.Faults()) != 0 {
		t.Errorf("%d server-busy faults injected, %d in effect; want %d and none after the DELETE", n, len(srv.Faults()), len(allowed)-1)
	}
}
