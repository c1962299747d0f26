package eventhubs

import (
	"fmt"
	"slices"
	"strings"
)

// RangeProblem is a range the hub cannot serve, as CheckRanges finds it.
type RangeProblem struct {
	Index int // of the range among those checked
	Range OffsetRange
	// Hub and PartitionIDs are the hub's name and partitions.
	Hub          string
	PartitionIDs []string
	// Bounds is what the range's partition holds; nil when the hub has no
	// such partition.
	Bounds *PartitionBounds
}

// RangeProblems is the Err of CheckRanges' *Error: every range the hub
// cannot serve, in the order given.
type RangeProblems []RangeProblem

func (ps RangeProblems) Error() string { return ps.Describe("range", nil) }

// Describe says what is wrong with each range, a line each. Ranges are
// named in ParseOffsetRange's form after name ("range", or a command
// line's "--range"), as typed[Index] when typed is not nil.
func (ps RangeProblems) Describe(name string, typed []string) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.describe(name, typed)
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d ranges cannot be read:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

func (p RangeProblem) describe(name string, typed []string) string {
	r := p.Range
	arg := fmt.Sprintf("%s:%d:%d", r.PartitionID, r.FromSeqNo, r.UntilSeqNo)
	if typed != nil {
		arg = typed[p.Index]
	}
	b := p.Bounds
	switch {
	case b == nil:
		return fmt.Sprintf("%s %s: no such partition: hub %q has partitions %s", name, arg, p.Hub, strings.Join(p.PartitionIDs, ", "))
	case b.Empty():
		return fmt.Sprintf("%s %s ends past the last event: partition %s of hub %q holds no events (the next will be sequence number %d)",
			name, arg, r.PartitionID, p.Hub, b.End)
	}
	return fmt.Sprintf("%s %s ends past the last event: partition %s of hub %q holds sequence numbers %d to %d (%s %s:%d:%d reads them all)",
		name, arg, r.PartitionID, p.Hub, b.First, b.End-1, name, r.PartitionID, b.First, b.End)
}

// CheckRanges finds every range that names a partition the hub does not
// have (CodeInvalidRange) or ends past its partition's last event
// (CodeRangeOutOfBounds, when any does): the *Error's Err is the
// RangeProblems, which say what each partition holds. Checking before
// reading costs nothing when a range is mistyped; retention may still
// remove events before they are read.
func (hp *HubProperties) CheckRanges(ranges []OffsetRange) error {
	var ps RangeProblems
	code := CodeInvalidRange
	for i, r := range ranges {
		p := RangeProblem{Index: i, Range: r, Hub: hp.Name, PartitionIDs: hp.PartitionIDs}
		if k := slices.Index(hp.PartitionIDs, r.PartitionID); k >= 0 {
			b := hp.Partitions[k]
			if r.UntilSeqNo <= b.End && r.FromSeqNo <= b.End {
				continue
			}
			p.Bounds, code = &b, CodeRangeOutOfBounds
		}
		ps = append(ps, p)
	}
	if ps == nil {
		return nil
	}
	return &Error{Code: code, Hub: hp.Name, Message: "ranges the hub cannot serve", Err: ps}
}

// UnknownPartitions is the Err of CheckPartitions' *Error: the IDs asked
// for that hub Hub, with partitions PartitionIDs, does not have, in the
// order given.
type UnknownPartitions struct {
	Hub          string
	PartitionIDs []string
	Unknown      []string
}

func (u UnknownPartitions) Error() string { return u.Describe("partition") }

// Describe says that each unknown ID is not one of the hub's, a line each,
// naming it after name ("partition", or a command line's "--partition").
func (u UnknownPartitions) Describe(name string) string {
	lines := make([]string, len(u.Unknown))
	for i, id := range u.Unknown {
		lines[i] = fmt.Sprintf("%s %s: no such partition: hub %q has partitions %s", name, id, u.Hub, strings.Join(u.PartitionIDs, ", "))
	}
	return strings.Join(lines, "\n")
}

// CheckPartitions finds every ID among ids that the hub does not have: a
// CodeInvalidRange *Error whose Err is the UnknownPartitions; nil when it
// has them all.
func (hp *HubProperties) CheckPartitions(ids []string) error {
	u := UnknownPartitions{Hub: hp.Name, PartitionIDs: hp.PartitionIDs}
	for _, id := range ids {
		if !slices.Contains(hp.PartitionIDs, id) {
			u.Unknown = append(u.Unknown, id)
		}
	}
	if u.Unknown == nil {
		return nil
	}
	return &Error{Code: CodeInvalidRange, Hub: hp.Name, Message: "partitions the hub does not have", Err: u}
}

// RangesHeld is the range of every event each partition of ids (nil:
// every partition) held when hp was read, in the hub's order: what
// CreateRDD reads to read them all. The ranges name the hub as hub, the
// name the reading Conf gives it (Conf.EventHubName), which may differ
// from hp.Name in case. An ID the hub does not have is CheckPartitions'
// error.
func (hp *HubProperties) RangesHeld(hub string, ids []string) ([]OffsetRange, error) {
	if err := hp.CheckPartitions(ids); err != nil {
		return nil, err
	}
	var ranges []OffsetRange
	for _, b := range hp.Partitions {
		if ids == nil || slices.Contains(ids, b.PartitionID) {
			ranges = append(ranges, OffsetRange{Name: hub, PartitionID: b.PartitionID, FromSeqNo: b.First, UntilSeqNo: b.End})
		}
	}
	return ranges, nil
}
