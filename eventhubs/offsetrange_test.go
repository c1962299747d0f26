package eventhubs

import (
	"fmt"
	"strings"
	"testing"
)

func TestOffsetRangeCountAndString(t *testing.T) {
	tests := []struct {
		r     OffsetRange
		count int64
		text  string
	}{
		{OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100}, 100, "hub 0 0 100"},
		{OffsetRange{Name: "hub", PartitionID: "3", FromSeqNo: 5, UntilSeqNo: 5}, 0, "hub 3 5 5"},
		{OffsetRange{Name: "hub", PartitionID: "3", FromSeqNo: 5, UntilSeqNo: 6}, 1, "hub 3 5 6"},
		{OffsetRange{Name: "my-hub", PartitionID: "31", FromSeqNo: 1000, UntilSeqNo: 2500}, 1500, "my-hub 31 1000 2500"},
		{OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: 10, UntilSeqNo: 5}, 0, "hub 0 10 5"},
		{OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: -5, UntilSeqNo: 5}, 10, "hub 0 -5 5"},
		{OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1 << 62}, 1 << 62, fmt.Sprintf("hub 0 0 %d", int64(1<<62))},
	}
	for _, tt := range tests {
		if got := tt.r.Count(); got != tt.count {
			t.Errorf("%#v.Count() = %d, want %d", tt.r, got, tt.count)
		}
		if got := tt.r.String(); got != tt.text {
			t.Errorf("%#v.String() = %q, want %q", tt.r, got, tt.text)
		}
		if got := fmt.Sprint(tt.r); got != tt.text {
			t.Errorf("fmt.Sprint(%#v) = %q, want %q", tt.r, got, tt.text)
		}
	}
}

func TestOffsetRangeNameAndPartition(t *testing.T) {
	r := OffsetRange{Name: "hub", PartitionID: "7", FromSeqNo: 1, UntilSeqNo: 2}
	np := r.NameAndPartition()
	if np != (NameAndPartition{Name: "hub", PartitionID: "7"}) {
		t.Errorf("NameAndPartition() = %#v", np)
	}
	if got := np.String(); got != "hub/7" {
		t.Errorf("NameAndPartition.String() = %q, want hub/7", got)
	}
	// Usable as a map key: ranges of one partition share it.
	m := map[NameAndPartition]int64{}
	for _, r := range []OffsetRange{{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 10}, {Name: "hub", PartitionID: "0", FromSeqNo: 10, UntilSeqNo: 20}, {Name: "hub", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 5}, {Name: "other", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 1}} {
		m[r.NameAndPartition()] += r.Count()
	}
	want := map[NameAndPartition]int64{{"hub", "0"}: 20, {"hub", "1"}: 5, {"other", "0"}: 1}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("counts by partition = %v, want %v", m, want)
	}
}

func TestOffsetRangeValidate(t *testing.T) {
	good := []OffsetRange{
		{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 0},
		{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100},
		{Name: "hub", PartitionID: "12", FromSeqNo: 99, UntilSeqNo: 100},
		{Name: "hub", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 10, ResetFrom: 11},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("%v: Validate: %v", r, err)
		}
	}
	bad := []struct {
		r              OffsetRange
		want           string
		hub, partition string
	}{
		{OffsetRange{Name: "", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 10}, "no event hub name", "", ""},
		{OffsetRange{Name: "hub", PartitionID: "", FromSeqNo: 0, UntilSeqNo: 10}, "no partition ID", "", ""},
		{OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: -1, UntilSeqNo: 5}, "[-1, 5)", "hub", "0"},
		{OffsetRange{Name: "hub", PartitionID: "2", FromSeqNo: 5, UntilSeqNo: 3}, "until is below from", "hub", "2"},
		{OffsetRange{Name: "hub", PartitionID: "2", FromSeqNo: -5, UntilSeqNo: -10}, "start at 0", "hub", "2"},
		{OffsetRange{Name: "hub", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 10, ResetFrom: 10}, "reset from 10", "hub", "1"},
		{OffsetRange{Name: "hub", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 10, ResetFrom: -3}, "reset from -3", "hub", "1"},
	}
	for _, tt := range bad {
		err := tt.r.Validate()
		e := utAsError(t, err, CodeInvalidRange)
		if !strings.Contains(e.Message, tt.want) {
			t.Errorf("%#v: message %q does not contain %q", tt.r, e.Message, tt.want)
		}
		if e.Hub != tt.hub || e.PartitionID != tt.partition {
			t.Errorf("%#v: error names hub %q partition %q, want %q %q", tt.r, e.Hub, e.PartitionID, tt.hub, tt.partition)
		}
		if tt.hub != "" && !strings.Contains(err.Error(), fmt.Sprintf("hub %q partition %s", tt.hub, tt.partition)) {
			t.Errorf("%#v: Error() = %q does not say where", tt.r, err.Error())
		}
	}
}

func TestParseOffsetRange(t *testing.T) {
	good := []struct {
		in   string
		want OffsetRange
	}{
		{"0:0:100", OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 100}},
		{"3:5:5", OffsetRange{Name: "hub", PartitionID: "3", FromSeqNo: 5, UntilSeqNo: 5}},
		{"12:1000:2000", OffsetRange{Name: "hub", PartitionID: "12", FromSeqNo: 1000, UntilSeqNo: 2000}},
		{"0:+1:+2", OffsetRange{Name: "hub", PartitionID: "0", FromSeqNo: 1, UntilSeqNo: 2}},
	}
	for _, tt := range good {
		got, err := ParseOffsetRange("hub", tt.in)
		if err != nil {
			t.Errorf("ParseOffsetRange(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseOffsetRange(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}

	bad := []struct {
		hub, in string
		want    string
	}{
		{"hub", "0:5:3", "until is below from"},
		{"hub", "0:-1:5", "start at 0"},
		{"hub", "0:a:5", `"0:a:5"`},
		{"hub", "0:1:b", `"0:1:b"`},
		{"hub", "0:1.5:3", `"0:1.5:3"`},
		{"hub", "0:1", `"0:1"`},
		{"hub", "", `""`},
		{"hub", "0:1:2:3", `"0:1:2:3"`},
		{"hub", "0::5", `"0::5"`},
		{"hub", ":0:5", "no partition ID"},
		{"", "0:0:5", "no event hub name"},
	}
	for _, tt := range bad {
		r, err := ParseOffsetRange(tt.hub, tt.in)
		if r != (OffsetRange{}) {
			t.Errorf("ParseOffsetRange(%q, %q) = %v with the error, want the zero value", tt.hub, tt.in, r)
		}
		e := utAsError(t, err, CodeInvalidRange)
		if !strings.Contains(e.Message, tt.want) {
			t.Errorf("ParseOffsetRange(%q, %q): message %q does not contain %q", tt.hub, tt.in, e.Message, tt.want)
		}
		if !HasCode(err, CodeInvalidRange) {
			t.Errorf("HasCode(%v, %s) = false", err, CodeInvalidRange)
		}
	}
}
