package main

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	ehbuildinfo "github.com/ehstream/ehstream/buildinfo"
)

// TestVersionOfBuiltBinary builds ehstream as a user would, with VCS
// stamping on (this machine's go env may turn it off), and checks that
// `ehstream version` and `--version` print the revision git names, the
// version and settings `go version -m` reads, that the emulator's
// /metrics carries them as ehstream_build_info, and that
// THIRD_PARTY_NOTICES.md lists every module the binary links.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	src, wantRev := stampableCheckout(t, filepath.Join("..", ".."))
	bin := filepath.Join(t.TempDir(), "ehstream")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "./cmd/ehstream")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	started := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build took %v", time.Since(started).Round(time.Millisecond))
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["vcs.revision"] != wantRev {
		t.Fatalf("go version -m: vcs.revision %q, want %q (git rev-parse HEAD)", settings["vcs.revision"], wantRev)
	}

	out := runBuilt(t, bin, "version")
	if again := runBuilt(t, bin, "--version"); again != out {
		t.Errorf("--version printed %q, version %q; want the same", again, out)
	}
	t.Logf("ehstream version:\n%s", out)
	want := []string{"ehstream " + bi.Main.Version + "\n", "go: " + bi.GoVersion + " "}
	if wantRev == "" {
		want = append(want, "revision: unknown")
	} else {
		want = append(want, "revision: "+wantRev, "committed: "+settings["vcs.time"])
	}
	if settings["vcs.modified"] == "true" {
		want = append(want, "(modified")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("ehstream version printed %q, want it to hold %q", out, w)
		}
	}
	checkNoticesCoverBinary(t, bi.Deps)
	checkEmulatorBuildInfo(t, bin, bi.Main.Version, bi.GoVersion, settings)
}

// stampableCheckout returns a directory holding the repository at root
// that go build stamps with a VCS revision, and that revision ("" when
// root is not in git at all). That is root itself in a git checkout. In a
// git worktree Go stamps nothing (its .git is a file, golang/go#58218), so
// there the files git sees (tracked and untracked, not ignored) are
// committed to a temporary repository, changes included.
func stampableCheckout(t *testing.T, root string) (dir, revision string) {
	t.Helper()
	top, err := exec.Command("git", "-C", root, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Logf("not a git checkout (%v): the revision must be unknown", err)
		return root, ""
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && fi.IsDir() {
		return root, git(t, root, "rev-parse", "HEAD")
	}
	dir = t.TempDir()
	for _, name := range strings.Split(git(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00") {
		if name == "" {
			continue // after the last NUL
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "the worktree's files")
	t.Logf("a git worktree: building from a copy committed in %s", dir)
	return dir, git(t, dir, "rev-parse", "HEAD")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func runBuilt(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ehstream %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String()
}

// checkNoticesCoverBinary checks THIRD_PARTY_NOTICES.md has a row for each
// module the built binary links, as go version -m lists them.
func checkNoticesCoverBinary(t *testing.T, deps []*debug.Module) {
	t.Helper()
	notices, err := os.ReadFile(filepath.Join("..", "..", "THIRD_PARTY_NOTICES.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) < 10 {
		t.Fatalf("the binary links %d modules; ehstream links dozens", len(deps))
	}
	for _, d := range deps {
		if d.Replace != nil {
			d = d.Replace
		}
		if !bytes.Contains(notices, []byte("| "+d.Path+" | "+d.Version+" | ")) {
			t.Errorf("THIRD_PARTY_NOTICES.md has no row for %s %s, which the binary links: run go generate ./internal/notices", d.Path, d.Version)
		}
	}
}

// checkEmulatorBuildInfo runs the binary's emulator and checks its
// /metrics says which build it is.
func checkEmulatorBuildInfo(t *testing.T, bin, version, goVersion string, settings map[string]string) {
	t.Helper()
	p := runEmulatorProcess(t, exec.Command(bin, "emulator", "--in-memory", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"))
	_, body := httpGet(t, strings.TrimSuffix(p.health, "/health")+"/metrics")
	info := ehbuildinfo.Info{Revision: settings["vcs.revision"], Modified: settings["vcs.modified"] == "true"}
	want := fmt.Sprintf(`ehstream_build_info{goversion=%q,revision=%q,version=%q} 1`, goVersion, info.RevisionLabel(), version)
	if !strings.Contains(body, want+"\n") {
		t.Errorf("the emulator's /metrics lacks %s", want)
	}
}
