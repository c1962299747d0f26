package capture_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/capture"
)

// finish writes a file of body into dest at name.
func finish(t *testing.T, dest capture.Destination, name capture.FileName, body string) {
	t.Helper()
	ctx := context.Background()
	f, err := dest.Begin(ctx, capture.PartitionDir(name.Namespace, name.EventHub, name.PartitionID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(ctx, name.Path()); err != nil {
		t.Fatal(err)
	}
}

func nameAt(partition string, at time.Time, from, until int64) capture.FileName {
	return capture.FileName{Namespace: "ns", EventHub: "hub", PartitionID: partition, First: at, From: from, Until: until, Ext: ".jsonl"}
}

// destinationBasics: an unfinished file is invisible to Last and List and
// removed as a leftover; Last finds the newest of files years apart.
func destinationBasics(t *testing.T, dest capture.Destination) {
	ctx := context.Background()
	base := time.Date(2024, 12, 31, 23, 59, 58, 0, time.UTC)
	finish(t, dest, nameAt("0", base, 0, 10), "a")
	finish(t, dest, nameAt("0", base.Add(2*time.Second), 10, 20), "b") // the next year
	finish(t, dest, nameAt("0", base.Add(2*time.Second), 20, 25), "c") // the same second
	finish(t, dest, nameAt("1", base.AddDate(0, 0, 1), 7, 8), "d")
	pending, err := dest.Begin(ctx, "ns/hub/0")
	if err != nil {
		t.Fatal(err)
	}
	pending.Write([]byte("unfinished"))
	last, err := dest.Last(ctx, "ns/hub/0")
	if want := nameAt("0", base.Add(2*time.Second), 20, 25).Path(); err != nil || last != want {
		t.Fatalf("Last = %q, %v; want %s", last, err, want)
	}
	if last, err := dest.Last(ctx, "ns/hub/2"); err != nil || last != "" {
		t.Fatalf("Last of a partition with no file = %q, %v; want \"\"", last, err)
	}
	marker, _ := dest.Begin(ctx, "ns/hub/2")
	if err := marker.Finish(ctx, "ns/hub/2/_start/from-7"); err != nil {
		t.Fatal(err)
	}
	if got, err := dest.List(ctx, "ns/hub/2/_start"); err != nil || len(got) != 1 || got[0] != "ns/hub/2/_start/from-7" {
		t.Fatalf("List of a hidden directory = %q, %v; want what it holds", got, err)
	}
	all, err := dest.List(ctx, "ns/hub")
	if err != nil || len(all) != 4 {
		t.Fatalf("List = %q, %v; want the 4 finished files", all, err)
	}
	if n, err := dest.RemoveLeftovers(ctx, "ns/hub/0"); err != nil || n != 1 {
		t.Fatalf("RemoveLeftovers = %d, %v; want 1", n, err)
	}
	if all, _ := dest.List(ctx, "ns/hub"); len(all) != 4 {
		t.Fatalf("after RemoveLeftovers, List = %q; want the 4 finished files", all)
	}
}

func TestDirBasics(t *testing.T) {
	root := t.TempDir()
	dest, err := capture.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	destinationBasics(t, dest)
	if tmp, _ := os.ReadDir(filepath.Join(root, "ns/hub/0/_tmp")); len(tmp) != 0 {
		t.Fatalf("_tmp holds %d files after RemoveLeftovers", len(tmp))
	}
}

func TestDirRefusesBadDirectories(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "plain")
	os.WriteFile(file, nil, 0o644)
	readOnly := filepath.Join(root, "ro")
	os.Mkdir(readOnly, 0o555)
	cases := []struct{ dir, want string }{
		{filepath.Join(root, "missing"), "does not exist: create it (mkdir -p"},
		{file, "is not a directory"},
	}
	if os.Geteuid() == 0 {
		readOnly = "/sys" // root writes into any mode 0555 directory, not into sysfs
	}
	cases = append(cases, struct{ dir, want string }{readOnly, "is not writable"})
	for _, c := range cases {
		_, err := capture.NewDir(c.dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.dir) {
			t.Errorf("NewDir(%s) = %v; want an error naming it and saying %q", c.dir, err, c.want)
		}
	}
}
