package monitor

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

// The sink reads as written, but for its password, on the page's JSON and
// in ehstream_stream_info: a table's name after the URL is not escaped,
// and a user name equal to the password stays.
func TestSinkShownAsWritten(t *testing.T) {
	m := New(newContext(t, time.Second, nil), &Options{Job: "j", Hub: "h", ConsumerGroup: "cg",
		Sink: "postgres://postgres:postgres@127.0.0.1:5432/nu_rep table events"})
	want := "postgres://postgres:xxxxx@127.0.0.1:5432/nu_rep table events"
	if got := m.Status().Sink; got != want {
		t.Errorf("/api/status sink %q, want %q", got, want)
	}
	var info string
	for _, mt := range scrape(t, m)["ehstream_stream_info"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "sink" {
				info = l.GetValue()
			}
		}
	}
	if info != want {
		t.Errorf("ehstream_stream_info sink %q, want %q", info, want)
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	var st struct{ Sink string }
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Sink != want {
		t.Errorf("/api/status: %s\nwant sink %q", rec.Body, want)
	}
}
