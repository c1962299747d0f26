package capture_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ehstream/ehstream/capture"
)

// CheckFiles finds each partition's files, a gap and an overlap between
// them, and what is not a file of the layout.
func TestCheckFiles(t *testing.T) {
	root := t.TempDir()
	dest, _ := capture.NewDir(root)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	finish(t, dest, nameAt("0", at, 0, 100), "a")
	finish(t, dest, nameAt("0", at.Add(time.Minute), 100, 200), "b")
	finish(t, dest, nameAt("0", at.Add(2*time.Minute), 250, 300), "c") // a gap [200, 250)
	finish(t, dest, nameAt("1", at, 0, 50), "d")
	finish(t, dest, nameAt("1", at.Add(time.Hour), 40, 60), "e") // an overlap [40, 50)
	os.WriteFile(filepath.Join(root, "ns/hub/1/notes.txt"), nil, 0o644)
	hf, err := capture.CheckFiles(context.Background(), dest, "NS", "Hub")
	if err != nil {
		t.Fatal(err)
	}
	if len(hf.Partitions) != 2 || len(hf.Strays) != 1 || hf.Strays[0] != "ns/hub/1/notes.txt" {
		t.Fatalf("CheckFiles = %+v, want 2 partitions and the one stray", hf)
	}
	p0, p1 := hf.Partitions[0], hf.Partitions[1]
	if from, until := p0.Ends(); len(p0.Files) != 3 || from != 0 || until != 300 || p0.Events != 250 || len(p0.Overlaps) != 0 ||
		len(p0.Gaps) != 1 || p0.Gaps[0].From != 200 || p0.Gaps[0].Until != 250 {
		t.Errorf("partition 0: %+v, want 3 files over [0, 300) and the gap [200, 250)", p0)
	}
	if len(p1.Files) != 2 || len(p1.Gaps) != 0 || len(p1.Overlaps) != 1 || p1.Overlaps[0].From != 40 || p1.Overlaps[0].Until != 50 ||
		p1.Overlaps[0].After != nameAt("1", at.Add(time.Hour), 40, 60).Path() {
		t.Errorf("partition 1: %+v, want the overlap [40, 50)", p1)
	}
}
