package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// ModulePath is the ehstream module's path, whose version Info reports.
const ModulePath = "github.com/ehstream/ehstream"

// Info is what the toolchain recorded about a build.
type Info struct {
	// Version is the ehstream module's version: a release tag (v1.2.0), a
	// pseudo-version of the commit built (v0.0.0-20261207131000-424be6df7e68,
	// with +dirty when the tree had changes), or "(devel)" when the
	// toolchain knew none (go run, go test, a build without VCS stamping).
	Version string
	// Revision is the VCS revision the program was built from (vcs.revision,
	// a git commit hash); "" when not stamped.
	Revision string
	// Modified says the tree had changes not in Revision (vcs.modified).
	Modified bool
	// Time is Revision's commit time (vcs.time); zero when not stamped. Go
	// records no build time, so that builds are reproducible.
	Time time.Time
	// GoVersion is the Go toolchain that built the program, e.g. go1.26.8.
	GoVersion string
}

// Read returns the running program's build information. It never fails:
// what the toolchain did not record is left empty, Version "(devel)".
func Read() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo reads Info from the toolchain's record.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "(devel)", GoVersion: bi.GoVersion}
	mod := &bi.Main
	for _, d := range bi.Deps {
		if mod.Path != ModulePath && d.Path == ModulePath {
			mod = d
		}
	}
	if mod.Replace != nil {
		mod = mod.Replace
	}
	if mod.Path == ModulePath && mod.Version != "" {
		info.Version = mod.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "vcs.time":
			info.Time, _ = time.Parse(time.RFC3339, s.Value)
		}
	}
	return info
}

// RevisionLabel is Revision as the revision label of ehstream_build_info
// shows it: with -modified when the tree had changes (as Prometheus's own
// programs do), "unknown" when not stamped.
func (i Info) RevisionLabel() string {
	switch {
	case i.Revision == "":
		return "unknown"
	case i.Modified:
		return i.Revision + "-modified"
	}
	return i.Revision
}

// String is what `ehstream version` prints: the version on the first line,
// then the revision, its time and the toolchain, one a line.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ehstream %s\n", i.Version)
	switch {
	case i.Revision == "":
		b.WriteString("revision: unknown (not stamped: built by go run or go test, with -buildvcs=false, or outside a git checkout)\n")
	case i.Modified:
		fmt.Fprintf(&b, "revision: %s (modified: built with changes not committed)\n", i.Revision)
	default:
		fmt.Fprintf(&b, "revision: %s\n", i.Revision)
	}
	if !i.Time.IsZero() {
		fmt.Fprintf(&b, "committed: %s\n", i.Time.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", i.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
