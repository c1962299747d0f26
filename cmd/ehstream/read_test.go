package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/sqlsink"
)

// A range the hub cannot serve fails before anything is printed, with an
// error that names each such --range as typed and what its partition holds.
func TestReadRangeOutOfBounds(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "r", PartitionCount: 2})
	cs := srv.ConnectionString("r")
	if code, _, errOut := cli(t, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n", "send", "--connection-string", cs, "--partition", "0"); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
	cases := []struct {
		ranges []string
		says   []string
		not    string
	}{
		// The README's example once did this: partition 1 is empty.
		{[]string{"0:0:5", "1:0:1"}, []string{"--range 1:0:1", "partition 1 of hub \"r\" holds no events"}, "--range 0:0:5"},
		{[]string{"0:0:11", "0:2:4", "0:20:30"}, []string{
			"2 ranges", "--range 0:0:11", "holds sequence numbers 0 to 9", "--range 0:0:10 reads them all", "--range 0:20:30"}, "--range 0:2:4"},
		{[]string{"7:0:1"}, []string{"--range 7:0:1", "no such partition", "0, 1"}, ""},
	}
	for _, c := range cases {
		args := []string{"read", "--connection-string", cs}
		for _, r := range c.ranges {
			args = append(args, "--range", r)
		}
		code, out, errOut := cli(t, "", args...)
		if code != 1 || out != "" {
			t.Errorf("read %v: exit %d, stdout %q; want exit 1 and nothing printed", c.ranges, code, out)
		}
		for _, s := range c.says {
			if !strings.Contains(errOut, s) {
				t.Errorf("read %v: stderr %q does not say %q", c.ranges, errOut, s)
			}
		}
		if c.not != "" && strings.Contains(errOut, c.not) {
			t.Errorf("read %v: stderr %q blames the good range %s", c.ranges, errOut, c.not)
		}
	}
	code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--range", "0:0:10", "--range", "1:0:0")
	if evs := readLinesJSON(t, out); code != 0 || len(evs) != 10 {
		t.Errorf("read 0:0:10 1:0:0: exit %d, %d events, stderr %q; want the 10 events", code, len(evs), errOut)
	}
}

// `ehstream read` while a job streams the hub in another process takes
// nothing from it: in the job's consumer group the read is refused, naming
// the group and saying to read with another, and prints nothing; with
// another --consumer-group it reads; the job goes on archiving every event
// and stops cleanly.
func TestReadBesideARunningStream(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "live", PartitionCount: 2, ConsumerGroups: []string{"adhoc"}})
	cs := srv.ConnectionString("live")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := <-sendRounds(ctx, cs, 2, 10, 10); err != nil {
		t.Fatal(err)
	}
	spec := "sqlite:" + filepath.Join(t.TempDir(), "live.db")
	job := startStreamProcess(t, bin, "--connection-string", cs, "--sink", spec, "--batch-interval", "20ms",
		"--starting-position", "earliest", "--receiver-timeout", "5s", "--operation-timeout", "10s")
	job.waitFor(t, "batch 1: 20 events")

	code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--all")
	if code != 1 || out != "" || !strings.Contains(errOut, `consumer group "$Default"`) || !strings.Contains(errOut, "another consumer group") {
		t.Errorf("read --all in the job's consumer group: exit %d, %d bytes printed, stderr %q; want exit 1, nothing printed, and an error naming the group and saying to read with another",
			code, len(out), errOut)
	}
	code, out, errOut = cli(t, "", "read", "--connection-string", cs, "--all", "--consumer-group", "adhoc")
	if evs := readLinesJSON(t, out); code != 0 || len(evs) != 20 {
		t.Errorf("read --all --consumer-group adhoc: exit %d, %d events, stderr %q; want the 20 events", code, len(evs), errOut)
	}

	if err := <-sendRounds(ctx, cs, 2, 10, 10); err != nil {
		t.Fatal(err)
	}
	sk, err := sqlsink.OpenForReading(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n != 40; {
		if err := sk.DB.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-job.exited:
			t.Fatalf("the job stopped (%v) after the reads, with %d of 40 events archived:\n%s", err, n, job.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job archived %d of 40 events within 30s:\n%s", n, job.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	job.cmd.Process.Signal(os.Interrupt)
	if err := <-job.exited; err != nil {
		t.Errorf("the job after Ctrl-C: %v\n%s", err, job.output())
	}
}

// read --from/--until reads every partition between two positions: with
// enqueued times, exactly the events enqueued after the first time (and
// before the second); bad positions are usage errors naming the value, and
// one past a partition's end an error with nothing printed.
func TestReadFromUntil(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "win", PartitionCount: 2})
	cs := srv.ConnectionString("win")
	send := func(partition, lines string) {
		t.Helper()
		if code, _, errOut := cli(t, lines, "send", "--connection-string", cs, "--partition", partition); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
	}
	// moment is a time after every event sent so far and before every later
	// one. Enqueued times are kept to the millisecond, so it is a
	// millisecond after the last, once the clock has passed that.
	moment := func() string {
		t.Helper()
		last := lastEnqueued(t, cs)
		deadline := time.Now().Add(5 * time.Second)
		for !time.Now().After(last.Add(2 * time.Millisecond)) {
			if time.Now().After(deadline) {
				t.Fatalf("the clock did not pass %s", last)
			}
			time.Sleep(time.Millisecond)
		}
		return "time:" + last.Add(time.Millisecond).UTC().Format(time.RFC3339Nano)
	}
	bodies := func(args ...string) []string { t.Helper(); return readBodies(t, cs, args...) }

	send("0", "a1\na2\na3\n")
	send("1", "a4\na5\n")
	since := moment()
	send("0", "b1\nb2\n")
	send("1", "b3\n")
	until := moment()
	send("0", "c1\n")

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--from", since, "--until", until}, []string{"0/b1", "0/b2", "1/b3"}},
		{[]string{"--from", since}, []string{"0/b1", "0/b2", "0/c1", "1/b3"}},
		{[]string{"--until", "seq:>0"}, []string{"0/a1", "1/a4"}},
		{[]string{"--from", "latest"}, nil},
	} {
		if got := bodies(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("read %v: %v, want %v", c.args, got, c.want)
		}
	}

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--from", "yesterday"}, `--from: position "yesterday"`},
		{[]string{"--until", "seq:x"}, `--until: position "seq:x"`},
		{[]string{"--from", "time:2026-13-01T00:00:00Z"}, `"time:2026-13-01T00:00:00Z"`},
		{[]string{"--from", "earliest", "--all"}, "give one"},
		{[]string{"--until", "latest", "--range", "0:0:1"}, "give one"},
	} {
		code, out, errOut := cli(t, "", append([]string{"read", "--connection-string", cs}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.says) {
			t.Errorf("read %v: exit %d, stdout %q, stderr %q; want exit 2 saying %q", c.args, code, out, errOut, c.says)
		}
	}
	code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--from", "seq:4")
	if code != 1 || out != "" || !strings.Contains(errOut, "from position seq:4") || !strings.Contains(errOut, "partition 1") {
		t.Errorf("read --from seq:4: exit %d, stdout %q, stderr %q; want exit 1, nothing printed, and an error naming the position and partition 1 (3 events)", code, out, errOut)
	}
}
