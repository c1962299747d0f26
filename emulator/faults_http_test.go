package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
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
