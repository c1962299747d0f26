package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

var (
	batchLineRE = regexp.MustCompile(`(?m)^batch (\d+): (\d+) events, lag (\d+)`)
	idleLineRE  = regexp.MustCompile(`(?m)^idle: (\d+) empty batch(?:es)?, lag (\d+)$`)
	wroteLineRE = regexp.MustCompile(`(?m)^wrote (\d+) events in (\d+) batches`)
)

// The test: 10 s of an idle stream at 100 ms batches prints at
// most one idle line, and no line for any of its empty batches.
func TestStreamIdleTenSeconds(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "quiet", PartitionCount: 2})
	spec := "sqlite:" + filepath.Join(t.TempDir(), "quiet.db")
	// The stream stops when ctx ends, as on Ctrl-C: after the running batch.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	code := run(ctx, []string{"stream", "--connection-string", srv.ConnectionString("quiet"), "--sink", spec, "--batch-interval", "100ms"},
		stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	o := out.String()
	m := wroteLineRE.FindStringSubmatch(o)
	if m == nil {
		t.Fatalf("no closing line:\n%s", o)
	}
	batches, _ := strconv.Atoi(m[2])
	// At 100 ms, some 100 batches; a loaded machine runs them late, but
	// 20 batches is 2 s of them.
	if m[1] != "0" || batches < 20 {
		t.Fatalf("wrote %s events in %d batches in 10 s of an idle hub at 100 ms batches, want 0 events in 20 batches or more:\n%s", m[1], batches, o)
	}
	if n := len(batchLineRE.FindAllString(o, -1)); n != 0 {
		t.Errorf("%d lines for batches, all of which were empty; want none:\n%s", n, o)
	}
	idle := idleLineRE.FindAllStringSubmatch(o, -1)
	if len(idle) > 1 {
		t.Errorf("%d idle lines in 10 s, want at most one:\n%s", len(idle), o)
	}
	// The one there is, at the stop, counts every batch.
	if len(idle) == 1 && (idle[0][1] != strconv.Itoa(batches) || idle[0][2] != "0") {
		t.Errorf("idle line %q, want %d empty batches and lag 0", idle[0][0], batches)
	}
	t.Logf("%d batches in 10 s:\n%s", batches, o)
}

// With idle lines every 300 ms instead of 30 s (the unexported variable),
// an idle stream says so regularly, each line counting the empty batches
// since the one before.
func TestStreamIdleLinesRepeat(t *testing.T) {
	defer func(d time.Duration) { idleLineEvery = d }(idleLineEvery)
	idleLineEvery = 300 * time.Millisecond
	srv := startInProcess(t, emulator.HubConfig{Name: "quiet", PartitionCount: 2})
	spec := "sqlite:" + filepath.Join(t.TempDir(), "quiet.db")
	const runFor = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	var out, errOut strings.Builder
	began := time.Now()
	code := run(ctx, []string{"stream", "--connection-string", srv.ConnectionString("quiet"), "--sink", spec, "--batch-interval", "50ms"},
		stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	took := time.Since(began)
	o := out.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, o, errOut.String())
	}
	m := wroteLineRE.FindStringSubmatch(o)
	if m == nil {
		t.Fatalf("no closing line:\n%s", o)
	}
	batches, _ := strconv.Atoi(m[2])
	idle := idleLineRE.FindAllStringSubmatch(o, -1)
	// One line each 300 ms at most, and one at the stop.
	if most := int(took/idleLineEvery) + 1; len(idle) < 3 || len(idle) > most {
		t.Errorf("%d idle lines in %s, want 3 to %d:\n%s", len(idle), took.Round(time.Millisecond), most, o)
	}
	sum := 0
	for _, l := range idle {
		n, _ := strconv.Atoi(l[1])
		if n < 1 || l[2] != "0" {
			t.Errorf("idle line %q, want a positive count and lag 0", l[0])
		}
		sum += n
	}
	if sum != batches || len(batchLineRE.FindAllString(o, -1)) != 0 {
		t.Errorf("the idle lines count %d empty batches, and the stream ran %d, none with events:\n%s", sum, batches, o)
	}
}

// jsonLines parses each line of s as a JSON object, failing the test on a
// line that is not one or has a key twice (slog's "time" and an
// attribute's, say).
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a line that is not a JSON object: %q: %v", l, err)
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.Token() // {
		seen := map[string]bool{}
		for dec.More() {
			k, _ := dec.Token()
			if seen[k.(string)] {
				t.Errorf("key %q twice in %s", k, l)
			}
			seen[k.(string)] = true
			var v json.RawMessage
			dec.Decode(&v)
		}
		recs = append(recs, m)
	}
	return recs
}

// --log-format json: stdout stays empty and stderr holds JSON records
// only, one per batch that read events, the idle one, the lines the job
// prints for people, and an error as a record too.
func TestStreamLogFormatJSON(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "j", PartitionCount: 2})
	cs := srv.ConnectionString("j")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, 2, 15, 15); err != nil {
		t.Fatal(err)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "j.db")
	code, out, errOut := cli(t, "", "stream", "--connection-string", cs, "--sink", spec, "--until-idle", "--batch-interval", "20ms", "--log-format", "json")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 0 and nothing on stdout\n%s", code, out, errOut)
	}
	var events float64
	var idle, wrote bool
	for _, rec := range jsonLines(t, errOut) {
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(rec["time"])); err != nil || rec["level"] == nil {
			t.Errorf("record without time and level: %v", rec)
		}
		msg := fmt.Sprint(rec["msg"])
		switch {
		case msg == "streaming: batch done":
			e, _ := rec["events"].(float64)
			if e == 0 {
				t.Errorf("a record for a batch that read nothing: %v", rec)
			}
			events += e
		case msg == "streaming: idle":
			idle = rec["emptyBatches"] == 1.0 && rec["lag"] == 0.0
		case strings.HasPrefix(msg, "wrote 30 events in "):
			wrote = true
		}
	}
	if events != 30 || !idle || !wrote {
		t.Errorf("batch records for %v events (want 30), idle record %v, closing record %v:\n%s", events, idle, wrote, errOut)
	}

	// An error is a record: exit 1 (2 for a bad flag), nothing else.
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--sink", "postgres://u:PGSECRET@127.0.0.1:1/db?connect_timeout=2"}, 1, "127.0.0.1:1"},
		{[]string{"--batch-interval", "0s"}, 2, "--batch-interval 0s"},
	} {
		code, out, errOut := cli(t, "", append([]string{"stream", "--connection-string", cs, "--log-format", "json"}, c.args...)...)
		recs := jsonLines(t, errOut)
		if code != c.code || out != "" || len(recs) == 0 {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d and a record", c.args, code, out, errOut, c.code)
		}
		last := recs[len(recs)-1]
		if last["level"] != "ERROR" || last["msg"] != "ehstream stream failed" || !strings.Contains(fmt.Sprint(last["error"]), c.says) || strings.Contains(errOut, "PGSECRET") {
			t.Errorf("%v: last record %v, want an error saying %q", c.args, last, c.says)
		}
	}
}

func TestLogFormatBadValue(t *testing.T) {
	for _, cmd := range []string{"stream", "read", "emulator"} {
		code, out, errOut := cli(t, "", cmd, "--log-format", "yaml")
		if code != 2 || !strings.Contains(errOut, `--log-format "yaml": want text or json`) {
			t.Errorf("%s --log-format yaml: exit %d, stderr %q; want exit 2 naming it\n%s", cmd, code, errOut, out)
		}
	}
}

// The emulator's logs as JSON: its start-up record.
func TestEmulatorLogFormatJSON(t *testing.T) {
	var out, errOut lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"emulator", "--in-memory", "--listen", "127.0.0.1:0", "--log-format", "json"}, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errOut.String(), `"msg":"emulator listening"`) {
		select {
		case code := <-exited:
			t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record of the start within 30 s:\n%s%s", out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("exit %d after the stop\n%s", code, errOut.String())
	}
	jsonLines(t, errOut.String())
	if !strings.Contains(out.String(), "connection string: ") {
		t.Errorf("stdout:\n%s", out.String())
	}
}

// fakeTerminal is stderr as a terminal for the tests.
type fakeTerminal struct{ lockedBuffer }

func (*fakeTerminal) IsTerminal() bool { return true }

func TestShowReadBar(t *testing.T) {
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	tty, notTTY := &fakeTerminal{}, &bytes.Buffer{}
	cases := []struct {
		events         int64
		stdout, stderr io.Writer
		json, want     bool
	}{
		{10_001, notTTY, tty, false, true},
		{1_000_000, pipeW, tty, false, true},
		{10_000, notTTY, tty, false, false}, // not more than 10,000
		{10_001, notTTY, notTTY, false, false},
		{10_001, notTTY, pipeW, false, false}, // a file that is not a terminal
		{10_001, notTTY, tty, true, false},    // JSON logs
		{10_001, tty, tty, false, false},      // the events scroll past on the terminal
	}
	for i, c := range cases {
		if got := showReadBar(c.events, c.stdout, c.stderr, c.json); got != c.want {
			t.Errorf("case %d: %d events, stdout %T, stderr %T, json %v: bar %v, want %v", i, c.events, c.stdout, c.stderr, c.json, got, c.want)
		}
	}
}

// ehstream read of more than 10,000 events with stderr a terminal shows a
// bar there: events, the rate and the time left; not when stderr is not a
// terminal, nor with JSON logs.
func TestReadProgressBar(t *testing.T) {
	const partitions, perPartition = 2, 5_100
	srv := startInProcess(t, emulator.HubConfig{Name: "many", PartitionCount: partitions})
	cs := srv.ConnectionString("many")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, partitions, perPartition, 850); err != nil {
		t.Fatal(err)
	}
	read := func(stderr io.Writer, extra ...string) string {
		var out strings.Builder
		code := run(ctx, append([]string{"read", "--connection-string", cs, "--all"}, extra...), stdio{in: strings.NewReader(""), out: &out, err: stderr})
		if n := strings.Count(out.String(), "\n"); code != 0 || n != partitions*perPartition {
			t.Fatalf("read: exit %d, %d events; want 0 and %d", code, n, partitions*perPartition)
		}
		return out.String()
	}
	tty := &fakeTerminal{}
	read(tty)
	bar := tty.String()
	// Its first state, at the start, has the time taken and left; its
	// last (after the last \r), when all is read, the events and the rate,
	// and ends the line.
	states := strings.Split(bar, "\r")
	if len(states) < 3 {
		t.Fatalf("stderr, a terminal, shows no bar: %q", bar)
	}
	first, final := states[1], states[len(states)-1]
	for _, c := range []struct{ state, re string }{
		{first, `^reading +0% \| +\| \(0/10200, 0 events/hr\) \[0s:\d+\w*\]`},
		{final, `^reading +100% \|█+\| \(10200/10200, \d+ events/(s|min|hr)\) \[\d+\w*\]\n$`},
	} {
		if !regexp.MustCompile(c.re).MatchString(c.state) {
			t.Errorf("the bar's state %q does not match %s", c.state, c.re)
		}
	}
	for _, c := range []struct {
		name   string
		stderr interface {
			io.Writer
			String() string
		}
		extra []string
	}{
		{"stderr not a terminal", &lockedBuffer{}, nil},
		{"JSON logs", &fakeTerminal{}, []string{"--log-format", "json"}},
	} {
		read(c.stderr, c.extra...)
		if s := c.stderr.String(); s != "" {
			t.Errorf("%s: stderr %q, want nothing", c.name, s)
		}
	}
}
