package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

// The README's placeholders, each replaced by what the test provides. The
// test fails when one no longer appears in the README, so that this list
// stays in step with it.
const (
	// The ehstream binary this test built: compiling per command would be
	// slow.
	readmeGoRun = "go run ./cmd/ehstream"
	// A real namespace's connection string: the stand-in's (an in-process
	// emulator whose hub has the README's consumer group "archiver" and
	// readmeStandinEvents events).
	readmeAzure = "Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=HUB"
	// A PostgreSQL database: a fresh one on $EHSTREAM_TEST_POSTGRES's
	// server. Without that variable the commands naming it are skipped,
	// unless CI=true, which fails instead.
	readmePostgres = "postgres://user:pass@localhost:5432/archive"
	// The emulator's default address: an `ehstream emulator` command
	// listens on a free port instead (every 127.0.0.1:PORT in it becomes
	// 127.0.0.1:0, and one without --listen gets --listen 127.0.0.1:0);
	// other commands get the address of the emulator the README started
	// last.
	readmeEmulatorAddr = "127.0.0.1:5672"
	// The address of the emulator's --ws-listen, as its TLS certificate
	// names it: other commands get the one the README's last emulator
	// printed.
	readmeWebSocketAddr = "localhost:5443"
)

const readmeStandinEvents = 1000

// TestReadme runs every command of the README's ```sh blocks as written,
// in order, with `bash -c` in a fresh copy of the repository, and checks
// what the README promises about each (a ```text block after a command is
// output it promises, line by line). A command failing fails the test,
// naming its README line.
func TestReadme(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := readmeCommands(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{readmeGoRun, readmeAzure, readmePostgres, readmeEmulatorAddr, readmeWebSocketAddr} {
		if !strings.Contains(string(readme), p) {
			t.Errorf("the README no longer says %q: update the placeholders in readme_test.go", p)
		}
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("the README's commands are for bash: %v", err)
	}
	for _, c := range cmds {
		if out, err := exec.Command("bash", "-n", "-c", c.text).CombinedOutput(); err != nil {
			t.Errorf("README.md:%d: bash cannot parse the command: %s", c.line, out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := &readmeRun{t: t, dir: copyRepo(t, root), bin: bin, env: readmeEnv()}
	r.startStandin()
	if base := os.Getenv("EHSTREAM_TEST_POSTGRES"); base != "" {
		r.pgURL = createPostgresDB(t, base)
	}
	start := time.Now()
	for _, c := range cmds {
		began := time.Now()
		r.run(c)
		t.Logf("README.md:%d: done in %s", c.line, time.Since(began).Round(time.Millisecond))
	}
	r.stopEmulator()
	t.Logf("%d README commands in %s", len(cmds), time.Since(start).Round(time.Millisecond))
}

// readmeEnv is the environment the README's first command starts with:
// the test's, without a connection string, as on a fresh machine.
func readmeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envConnectionString+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// copyRepo copies the repository's tracked files, as they are on disk, to
// a temporary directory: a fresh checkout with this change in it.
func copyRepo(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("listing the repository's files with git: %v", err)
	}
	dir := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Stat(src)
		if err != nil {
			continue // deleted in the work tree
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readmeRun is the state of one pass through the README: a shell session,
// in effect, plus what the test provides for the placeholders.
type readmeRun struct {
	t   *testing.T
	dir string
	bin string
	// env is what the session has exported so far, carried from one
	// command to the next as an interactive shell would.
	env        []string
	pgURL      string
	standinStr string
	emu        *shellProc // the emulator the README started last
	emuAddr    string
	emuWSAddr  string // its WebSocket listener's host:port, "" without one
	sent       int    // events the README's send commands sent to it
}

func (r *readmeRun) startStandin() {
	srv := startInProcess(r.t, emulator.HubConfig{Name: "telemetry", PartitionCount: 4, ConsumerGroups: []string{"archiver"}})
	r.standinStr = srv.ConnectionString("telemetry")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, r.standinStr, 4, readmeStandinEvents/4, readmeStandinEvents/4); err != nil {
		r.t.Fatal(err)
	}
}

var (
	subcommandRE = regexp.MustCompile(regexp.QuoteMeta(readmeGoRun) + `\s+(\S+)`)
	loopbackRE   = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// run runs one README command, or says why it does not, and checks it.
func (r *readmeRun) run(c readmeCmd) {
	t := r.t
	where := fmt.Sprintf("README.md:%d: %s", c.line, c.text)
	text := strings.TrimSpace(c.text)
	if strings.HasPrefix(text, "go test") {
		t.Logf("README.md:%d: go test not run: it is the command that runs this test", c.line)
		return
	}
	if strings.HasPrefix(text, "go ") && !strings.HasPrefix(text, readmeGoRun) {
		t.Fatalf("%s\nthe README test does not know how to run this go command: teach readme_test.go", where)
	}
	sub := ""
	if m := subcommandRE.FindAllStringSubmatch(text, -1); m != nil {
		sub = m[len(m)-1][1]
	}
	if strings.Contains(text, readmePostgres) {
		if r.pgURL == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s\nneeds PostgreSQL: set EHSTREAM_TEST_POSTGRES (CI=true, so this is not skipped)", where)
			}
			t.Logf("README.md:%d: skipped: EHSTREAM_TEST_POSTGRES is not set", c.line)
			return
		}
		text = strings.ReplaceAll(text, readmePostgres, r.pgURL)
	}
	text = strings.ReplaceAll(text, readmeAzure, r.standinStr)
	if sub == "emulator" {
		if !strings.Contains(text, "--listen") {
			text = strings.Replace(text, readmeGoRun+" emulator", readmeGoRun+" emulator --listen 127.0.0.1:0", 1)
		}
		text = loopbackRE.ReplaceAllString(text, "127.0.0.1:0")
	} else if strings.Contains(text, readmeEmulatorAddr) {
		if r.emu == nil {
			t.Fatalf("%s\nnames the emulator's address, but the README has started no emulator before", where)
		}
		text = strings.ReplaceAll(text, readmeEmulatorAddr, r.emuAddr)
	}
	if sub != "emulator" && strings.Contains(text, readmeWebSocketAddr) {
		if r.emuWSAddr == "" {
			t.Fatalf("%s\nnames the emulator's WebSocket address, but the README's last emulator serves no WebSockets", where)
		}
		text = strings.ReplaceAll(text, readmeWebSocketAddr, r.emuWSAddr)
	}
	text = strings.ReplaceAll(text, readmeGoRun, "'"+r.bin+"'")

	switch {
	case sub == "emulator":
		r.runEmulator(c, where, text)
		return
	case sub == "stream" && !strings.Contains(text, "--until-idle"):
		p := r.startShell(text, true)
		// It runs until Ctrl-C: once it has caught up, as a user would.
		p.waitFor(t, where, caughtUpRE, 60*time.Second)
		p.interrupt()
		p.wait(t, where, 30*time.Second)
		r.finish(c, where, sub, p)
	default:
		p := r.startShell(text, true)
		p.wait(t, where, 60*time.Second)
		r.finish(c, where, sub, p)
	}
}

// caughtUpRE is a line saying the stream has read all the hub held: a
// batch with lag 0 (the README's hubs get no events while it streams), or
// an idle line, which comes only after 30 s.
var caughtUpRE = regexp.MustCompile(`(?m)^(batch \d+: \d+ events, lag 0\b|idle: \d+ empty batch(es)?, lag 0$)`)

// finish checks a command that has exited and takes over its environment.
func (r *readmeRun) finish(c readmeCmd, where, sub string, p *shellProc) {
	t := r.t
	if p.err != nil {
		t.Fatalf("%s\n%v\n%s", where, p.err, p.output())
	}
	if env, err := p.exportedEnv(); err != nil {
		t.Fatalf("%s\nreading the environment it left: %v", where, err)
	} else {
		r.env = env
	}
	if err := r.check(c, sub, p.stdout.String()); err != nil {
		t.Fatalf("%s\n%v\n%s", where, err, p.output())
	}
}

func (r *readmeRun) runEmulator(c readmeCmd, where, text string) {
	t := r.t
	r.stopEmulator() // the README's reader stops the one before: it holds the port
	p := r.startShell(text, false)
	// Its last start-up line: everything the README shows is printed by then.
	p.waitFor(t, where, regexp.MustCompile(`press Ctrl-C to stop`), 30*time.Second)
	m := regexp.MustCompile(`listening on (\S+) `).FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("%s\nprinted no address\n%s", where, p.output())
	}
	r.emu, r.emuAddr, r.emuWSAddr, r.sent = p, m[1], "", 0
	out := p.stdout.String()
	if m := regexp.MustCompile(`WebSockets: +wss?://([^/\s]+)/`).FindStringSubmatch(out); m != nil {
		r.emuWSAddr = m[1]
	}
	if err := r.expectLines(c, out); err != nil {
		t.Fatalf("%s\n%v\n%s", where, err, p.output())
	}
	if m := regexp.MustCompile(`health: +(\S+)`).FindStringSubmatch(out); m != nil {
		resp, err := http.Get(m[1])
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s\nGET %s: %v %v", where, m[1], resp, err)
		}
		resp.Body.Close()
	}
}

// stopEmulator stops the README's emulator with Ctrl-C, which the README
// says stops it cleanly.
func (r *readmeRun) stopEmulator() {
	if r.emu == nil {
		return
	}
	p := r.emu
	r.emu = nil
	p.interrupt()
	p.wait(r.t, "stopping the README's emulator with SIGINT", 30*time.Second)
	if p.err != nil {
		r.t.Fatalf("the README's emulator exited with %v after SIGINT\n%s", p.err, p.output())
	}
}

// expectLines checks that each line of the ```text block after c appears
// in out, spaces aside.
func (r *readmeRun) expectLines(c readmeCmd, out string) error {
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	got := squash(out)
	for _, l := range c.expect {
		if r.emuAddr != "" {
			l = strings.ReplaceAll(l, readmeEmulatorAddr, r.emuAddr)
		}
		if !strings.Contains(got, squash(l)) {
			return fmt.Errorf("the README promises the output line %q", l)
		}
	}
	return nil
}

// check compares a command's output with what the README says about it.
func (r *readmeRun) check(c readmeCmd, sub, out string) error {
	if err := r.expectLines(c, out); err != nil {
		return err
	}
	connStr := ""
	for _, kv := range r.env {
		if v, ok := strings.CutPrefix(kv, envConnectionString+"="); ok {
			connStr = v
		}
	}
	switch sub {
	case "stream":
		return r.checkStream(c, out, connStr)
	case "offsets":
		return checkOffsetsOutput(out, connStr != "", connStr == r.standinStr)
	case "send":
		m := regexp.MustCompile(`sent (\d+) events? to hub`).FindStringSubmatch(out)
		if m == nil {
			return fmt.Errorf("send did not say how many events it sent")
		}
		n, _ := strconv.Atoi(m[1])
		r.sent += n
	case "info":
		if !regexp.MustCompile(`(?m)^hub \S+: \d+ partitions`).MatchString(out) || !strings.Contains(out, "PARTITION") {
			return fmt.Errorf("info printed no hub and partitions")
		}
	case "read":
		want := -1
		// The README's --from reads the last minutes, in which it sent
		// every event.
		if strings.Contains(c.text, "--all") || strings.Contains(c.text, "--from") {
			want = r.sent
		} else if rs := regexp.MustCompile(`--range (\d+):(\d+):(\d+)`).FindAllStringSubmatch(c.text, -1); rs != nil {
			want = 0
			for _, m := range rs {
				from, _ := strconv.Atoi(m[2])
				until, _ := strconv.Atoi(m[3])
				want += until - from
			}
		}
		return checkReadOutput(out, want)
	}
	return nil
}

func (r *readmeRun) checkStream(c readmeCmd, out, connStr string) error {
	switch {
	case connStr == "" && !strings.Contains(c.text, "--connection-string"):
		// The README: 5,000 sample events, copied into the table events
		// of ehstream.db.
		if !strings.Contains(out, "sent 5000 sample events") || !strings.Contains(out, "wrote 5000 events") {
			return fmt.Errorf("the README promises 5,000 sample events sent and archived")
		}
		db, err := sql.Open("sqlite", filepath.Join(r.dir, "ehstream.db"))
		if err != nil {
			return err
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 5000 {
			return fmt.Errorf("ehstream.db's table events holds %d events (%v), want 5000", n, err)
		}
	case connStr == r.standinStr:
		if want := fmt.Sprintf("wrote %d events", readmeStandinEvents); !strings.Contains(out, want) {
			return fmt.Errorf("the stand-in hub holds %d events, and the stream did not say %q", readmeStandinEvents, want)
		}
	}
	return nil
}

// checkOffsetsOutput: rows of positions and, with a connection string, a
// hub end, lag and oldest unread event's age for each (0 and none when
// the stream caught up).
func checkOffsetsOutput(out string, withHub, caughtUp bool) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "JOB") {
		return fmt.Errorf("offsets printed no positions")
	}
	if !withHub {
		return nil
	}
	if !strings.HasSuffix(lines[0], "LAG  OLDEST UNREAD") {
		return fmt.Errorf("offsets with a connection string printed no lag")
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		lag, oldest := f[len(f)-2], f[len(f)-1]
		if lag == "-" || (caughtUp && (lag != "0" || oldest != "-")) {
			return fmt.Errorf("offsets row %q: want a lag%s", l, map[bool]string{true: " of 0 and no oldest unread event (the stream caught up)"}[caughtUp])
		}
	}
	return nil
}

// checkReadOutput: one JSON object per line with the fields the README
// names; want lines unless it is -1.
func checkReadOutput(out string, want int) error {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	if want >= 0 && len(lines) != want {
		return fmt.Errorf("read printed %d lines, want %d", len(lines), want)
	}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			return fmt.Errorf("read printed a line that is not JSON: %q: %v", l, err)
		}
		for _, k := range []string{"partition", "sequenceNumber", "offset", "enqueuedTime", "partitionKey", "properties", "body"} {
			if _, ok := ev[k]; !ok {
				return fmt.Errorf("read printed a line without %q: %s", k, l)
			}
		}
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(ev["enqueuedTime"])); err != nil {
			return fmt.Errorf("read printed an enqueuedTime that is not RFC 3339: %s", l)
		}
	}
	return nil
}
