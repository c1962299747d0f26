package buildinfo

import (
	"maps"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// parse reads build info in the form `go version -m` prints (| for a
// tab); ParseBuildInfo leaves GoVersion to the caller.
func parse(t *testing.T, text string) *debug.BuildInfo {
	t.Helper()
	bi, err := debug.ParseBuildInfo(strings.ReplaceAll(text, "|", "\t"))
	if err != nil {
		t.Fatal(err)
	}
	bi.GoVersion = "go1.26.8"
	return bi
}

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       Info
	}{{
		name: "a go build in a git checkout with changes",
		text: `path|github.com/ehstream/ehstream/cmd/ehstream
mod|github.com/ehstream/ehstream|v0.0.0-20261207131000-424be6df7e68+dirty|
dep|github.com/google/uuid|v1.6.0|h1:x=
build|vcs=git
build|vcs.revision=424be6df7e684ae2148ad7b504f49b3eb6983047
build|vcs.time=2026-12-07T13:10:00Z
build|vcs.modified=true
`,
		want: Info{Version: "v0.0.0-20261207131000-424be6df7e68+dirty", Revision: "424be6df7e684ae2148ad7b504f49b3eb6983047",
			Modified: true, Time: time.Date(2026, 12, 7, 13, 10, 0, 0, time.UTC), GoVersion: "go1.26.8"},
	}, {
		name: "go install of a release",
		text: "path|github.com/ehstream/ehstream/cmd/ehstream\nmod|github.com/ehstream/ehstream|v1.2.0|h1:y=\n",
		want: Info{Version: "v1.2.0", GoVersion: "go1.26.8"},
	}, {
		name: "go run: no version, no revision",
		text: "path|command-line-arguments\nmod|github.com/ehstream/ehstream|(devel)|\n",
		want: Info{Version: "(devel)", GoVersion: "go1.26.8"},
	}, {
		name: "a program that requires ehstream: its version, the program's revision",
		text: `path|example.com/shop/archiver
mod|example.com/shop|v0.3.0|
dep|github.com/ehstream/ehstream|v1.4.1|h1:z=
build|vcs.revision=abc
`,
		want: Info{Version: "v1.4.1", Revision: "abc", GoVersion: "go1.26.8"},
	}, {
		name: "ehstream replaced by a local copy",
		text: `path|example.com/shop/archiver
mod|example.com/shop|(devel)|
dep|github.com/ehstream/ehstream|v1.4.1|
=>|../ehstream||
`,
		want: Info{Version: "(devel)", GoVersion: "go1.26.8"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(parse(t, tc.text)); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v1.2.0", Revision: "424be6d", Modified: true, Time: time.Date(2026, 12, 7, 13, 10, 0, 0, time.UTC), GoVersion: "go1.26.8"}
	s := i.String()
	for _, want := range []string{"ehstream v1.2.0\n", "revision: 424be6d (modified", "committed: 2026-12-07T13:10:00Z\n", "go: go1.26.8 "} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, want it to hold %q", s, want)
		}
	}
	if s := (Info{Version: "(devel)", GoVersion: "go1.26.8"}).String(); !strings.Contains(s, "revision: unknown (not stamped") || strings.Contains(s, "committed") {
		t.Errorf("String() of an unstamped build = %q, want the revision unknown and no commit time", s)
	}
}

func TestCollector(t *testing.T) {
	for _, tc := range []struct {
		info     Info
		revision string
	}{
		{Info{Version: "v1.2.0", Revision: "424be6d", GoVersion: "go1.26.8"}, "424be6d"},
		{Info{Version: "v1.2.0", Revision: "424be6d", Modified: true, GoVersion: "go1.26.8"}, "424be6d-modified"},
		{Info{Version: "(devel)", GoVersion: "go1.26.8"}, "unknown"},
	} {
		want := map[string]string{"goversion": "go1.26.8", "revision": tc.revision, "version": tc.info.Version}
		if got := gather(t, newCollector(tc.info)); !maps.Equal(got, want) {
			t.Errorf("labels %v, want %v", got, want)
		}
	}
	// Read under go test: no revision, the toolchain's Go version.
	if got := gather(t, NewCollector()); got["goversion"] != runtime.Version() || got["revision"] != "unknown" {
		t.Errorf("NewCollector under go test: labels %v, want goversion %s and revision unknown", got, runtime.Version())
	}
}

// gather registers c alone and returns the labels of its one series,
// checking it is the gauge ehstream_build_info at 1.
func gather(t *testing.T, c prometheus.Collector) map[string]string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != MetricName || mfs[0].GetType() != dto.MetricType_GAUGE || len(mfs[0].Metric) != 1 {
		t.Fatalf("gathered %v, want one gauge %s", mfs, MetricName)
	}
	m := mfs[0].Metric[0]
	if m.GetGauge().GetValue() != 1 {
		t.Errorf("%s = %v, want 1", MetricName, m.GetGauge().GetValue())
	}
	labels := map[string]string{}
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}
