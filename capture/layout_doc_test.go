package capture

import (
	"path"
	"strings"
	"testing"
	"time"
)

// A file's path is Capture's documented layout down to the second: the
// documentation's example file, fileUrl .../tfdatamigratens/
// hubdatamigration/1/2017/08/31/19/11/45.avro of a CaptureFileCreated
// event, has the same directories as ours for that partition and second,
// and our name starts with its second, so tools that walk Capture's
// folders (by {Year}/{Month}/.../{Minute}, then *.avro) find our files.
func TestFileNameFollowsCapturesDocumentedLayout(t *testing.T) {
	const documented = "tfdatamigratens/hubdatamigration/1/2017/08/31/19/11/45.avro"
	n := FileName{Namespace: "tfdatamigratens", EventHub: "hubdatamigration", PartitionID: "1",
		First: time.Date(2017, 8, 31, 19, 11, 45, 0, time.UTC), From: 2400, Until: 3900, Ext: ".avro"}
	p := n.Path()
	if path.Dir(p) != path.Dir(documented) {
		t.Fatalf("directory %s, Capture's is %s", path.Dir(p), path.Dir(documented))
	}
	if base := path.Base(p); !strings.HasPrefix(base, "45-") || path.Ext(base) != path.Ext(documented) {
		t.Fatalf("file %s does not start with Capture's {Second} 45 and end with .avro", base)
	}
	if m, _ := path.Match("*/*/*/[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*.avro", p); !m {
		t.Fatalf("%s does not match Capture's {Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/ glob", p)
	}
}
