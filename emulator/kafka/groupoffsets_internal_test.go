package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOffsetStoreReopens: offsets committed to a directory are there when
// it is opened again, whatever the group's name; a forgotten group is not;
// a file that does not parse is refused with its name and the cure.
func TestOffsetStoreReopens(t *testing.T) {
	dir := t.TempDir()
	s, err := openOffsetStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	meta := "m"
	long := strings.Repeat("a-long-group-id/", 16) // 256 bytes: 512 in hex, past a file name's 255
	for _, g := range []string{"billing", "../odd/név", "gone", long} {
		if err := s.commit(g, groupOffsets{"orders": {0: {Offset: 5, LeaderEpoch: 1, Metadata: &meta}}}); err != nil {
			t.Fatalf("commit %q: %v", g, err)
		}
	}
	if err := s.commit("billing", groupOffsets{"orders": {3: {Offset: 9}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.forget("gone"); err != nil {
		t.Fatal(err)
	}
	again, err := openOffsetStore(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if names := strings.Join(again.names(), ","); names != "../odd/név,"+long+",billing" {
		t.Fatalf("groups after reopening: %s", names)
	}
	c0, ok0 := again.fetch("billing", "orders", 0)
	c3, ok3 := again.fetch("billing", "orders", 3)
	if !ok0 || !ok3 || c0.Offset != 5 || c0.LeaderEpoch != 1 || *c0.Metadata != "m" || c3.Offset != 9 {
		t.Fatalf("billing after reopening: %+v %v, %+v %v", c0, ok0, c3, ok3)
	}
	bad := filepath.Join(dir, "00.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openOffsetStore(dir); err == nil || !strings.Contains(err.Error(), "00.json") || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("a torn file: %v; want an error naming it and the cure", err)
	}
}

// TestOffsetStoreRemovesLeftovers: the temporary file of a commit a crash
// interrupted is removed when the directory is opened again, and the
// group keeps its last whole commit.
func TestOffsetStoreRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, err := openOffsetStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.commit("billing", groupOffsets{"orders": {0: {Offset: 5}}}); err != nil {
		t.Fatal(err)
	}
	leftover := s.path("billing") + ".123456.tmp"
	if err := os.WriteFile(leftover, []byte(`{"group":"bill`), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := openOffsetStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := again.fetch("billing", "orders", 0); !ok || c.Offset != 5 {
		t.Errorf("billing after reopening: %+v %v, want offset 5", c, ok)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the interrupted commit's temporary file is still there (%v)", err)
	}
}
