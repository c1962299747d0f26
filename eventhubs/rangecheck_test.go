package eventhubs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// CheckRanges names each range the hub cannot serve, with what its
// partition holds, under the code of the worst, and leaves the others.
func TestCheckRanges(t *testing.T) {
	hp := &HubProperties{Name: "r", PartitionIDs: []string{"0", "1"},
		Partitions: []PartitionBounds{{PartitionID: "0", First: 0, End: 10}, {PartitionID: "1", First: 3, End: 3}}}
	r := func(p string, from, until int64) OffsetRange {
		return OffsetRange{Name: "r", PartitionID: p, FromSeqNo: from, UntilSeqNo: until}
	}
	if err := hp.CheckRanges([]OffsetRange{r("0", 0, 10), r("1", 3, 3)}); err != nil {
		t.Fatalf("CheckRanges of readable ranges = %v, want nil", err)
	}
	err := hp.CheckRanges([]OffsetRange{r("0", 0, 11), r("0", 2, 4), r("1", 0, 4)})
	var ps RangeProblems
	if !HasCode(err, CodeRangeOutOfBounds) || !errors.As(err, &ps) || len(ps) != 2 || ps[0].Index != 0 || ps[1].Index != 2 {
		t.Fatalf("CheckRanges = %v (%+v), want a %s error listing ranges 0 and 2", err, ps, CodeRangeOutOfBounds)
	}
	got := ps.Describe("--range", []string{"0:0:11", "0:2:4", " 1:0:4"})
	for _, s := range []string{"2 ranges cannot be read", "--range 0:0:11 ends past", "holds sequence numbers 0 to 9 (--range 0:0:10 reads them all)",
		"--range  1:0:4 ends past", "partition 1 of hub \"r\" holds no events (the next will be sequence number 3)"} {
		if !strings.Contains(got, s) {
			t.Errorf("Describe = %q, does not say %q", got, s)
		}
	}
	err = hp.CheckRanges([]OffsetRange{r("7", 0, 1)})
	want := `range 7:0:1: no such partition: hub "r" has partitions 0, 1`
	if !HasCode(err, CodeInvalidRange) || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckRanges(7:0:1) = %v, want a %s error saying %q", err, CodeInvalidRange, want)
	}
}

// CheckPartitions names each ID the hub lacks, in order, a line each;
// RangesHeld is every event of the partitions asked for, named as the
// caller names the hub, in the hub's order.
func TestCheckPartitionsAndRangesHeld(t *testing.T) {
	hp := &HubProperties{Name: "r", PartitionIDs: []string{"0", "1", "2"},
		Partitions: []PartitionBounds{{PartitionID: "0", First: 0, End: 10}, {PartitionID: "1", First: 3, End: 3}, {PartitionID: "2", First: 5, End: 7}}}
	if err := hp.CheckPartitions([]string{"2", "0"}); err != nil {
		t.Fatalf("CheckPartitions of the hub's = %v, want nil", err)
	}
	err := hp.CheckPartitions([]string{"7", "1", "x"})
	var u UnknownPartitions
	if !HasCode(err, CodeInvalidRange) || !errors.As(err, &u) || len(u.Unknown) != 2 {
		t.Fatalf("CheckPartitions = %v, want a %s error naming 7 and x", err, CodeInvalidRange)
	}
	want := "--partition 7: no such partition: hub \"r\" has partitions 0, 1, 2\n--partition x: no such partition: hub \"r\" has partitions 0, 1, 2"
	if got := u.Describe("--partition"); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if _, err := hp.RangesHeld("R", []string{"5"}); !errors.As(err, &u) {
		t.Errorf("RangesHeld of partition 5 = %v, want UnknownPartitions", err)
	}
	for _, c := range []struct {
		ids  []string
		want string
	}{{nil, "[R 0 0 10 R 1 3 3 R 2 5 7]"}, {[]string{"2", "0"}, "[R 0 0 10 R 2 5 7]"}} {
		got, err := hp.RangesHeld("R", c.ids)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("RangesHeld(%q) = %v, %v; want %s", c.ids, got, err, c.want)
		}
	}
}
