package main

import (
	"strings"
	"testing"

	"github.com/ehstream/ehstream/emulator"
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
