package capture

import (
	"strings"
	"testing"
	"time"
)

// A file's name is Capture's path to the second, then its range; it reads
// back as written, and names sort as their ranges do.
func TestFileNameRoundTrip(t *testing.T) {
	n := FileName{Namespace: "myns.servicebus.windows.net", EventHub: "orders", PartitionID: "3",
		First: time.Date(2026, 12, 7, 15, 4, 5, 999, time.FixedZone("CET", 3600)), From: 1000, Until: 2000, Ext: ".avro"}
	want := "myns.servicebus.windows.net/orders/3/2026/12/07/14/04/05-00000000000000001000-00000000000000002000.avro"
	if got := n.Path(); got != want {
		t.Fatalf("Path() = %s, want %s", got, want)
	}
	back, err := ParseFileName("container/" + want)
	if err != nil {
		t.Fatal(err)
	}
	if back.Path() != want || back.From != 1000 || back.Until != 2000 || back.PartitionID != "3" || !back.First.Equal(n.First.Truncate(time.Second)) {
		t.Fatalf("ParseFileName gave %+v", back)
	}
	later := n
	later.From, later.Until = 2000, 10000
	if !(n.Path() < later.Path()) {
		t.Fatalf("names do not sort as ranges: %s >= %s", n.Path(), later.Path())
	}
}

func TestFileNameRefusesOthers(t *testing.T) {
	for _, p := range []string{
		"orders/3/2026/12/07/14/04/05.avro",
		"ns/orders/3/2026/12/07/14/04/05.avro",
		"ns/orders/3/2026/12/07/14/04/05-1-2.avro",
		"ns/orders/3/2026/12/07/14/04/05-00000000000000000002-00000000000000000001.avro",
		"ns/orders/3/2026/13/07/14/04/05-00000000000000000001-00000000000000000002.avro",
		"ns/orders/3/2026/12/07/14/04/xx-00000000000000000001-00000000000000000002.avro",
	} {
		if _, err := ParseFileName(p); err == nil || !strings.Contains(err.Error(), "capture:") {
			t.Errorf("ParseFileName(%q) = %v, want an error", p, err)
		}
	}
}
