package eventhubs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NameAndPartition names one partition of one event hub.
type NameAndPartition struct {
	Name        string // the event hub
	PartitionID string
}

func (n NameAndPartition) String() string { return n.Name + "/" + n.PartitionID }

// OffsetRange is a range of sequence numbers of one partition: FromSeqNo
// inclusive, UntilSeqNo exclusive. It is the unit every read, batch and
// stored position is made of.
type OffsetRange struct {
	Name        string // the event hub
	PartitionID string
	FromSeqNo   int64 // the first sequence number in the range
	UntilSeqNo  int64 // one past the last
	// ResetFrom is 0 but in the first range a stream reads after the
	// partition's sequence numbers restarted below its position (the hub
	// was deleted and created again) with FailOnDataLoss off: then it is
	// the position the stream stood at, and the range starts the new
	// numbering. A stored position moves from ResetFrom to UntilSeqNo
	// (offsets.Store.CommitOffsets does so).
	ResetFrom int64
	// HubCreatedOn is the creation time of the hub the range was planned
	// on (zero when unknown): a hub deleted and created again under the
	// same name is another hub, whose sequence numbers restarted. A store
	// keeps it with the position (offsets.Store.CommitOffsets), so that a
	// position is never continued on another hub, and a hub reached under
	// another host name is known for the same.
	HubCreatedOn time.Time
}

// NameAndPartition is the partition the range belongs to.
func (r OffsetRange) NameAndPartition() NameAndPartition {
	return NameAndPartition{Name: r.Name, PartitionID: r.PartitionID}
}

// Count is the number of sequence numbers in the range.
func (r OffsetRange) Count() int64 {
	if r.UntilSeqNo <= r.FromSeqNo {
		return 0
	}
	return r.UntilSeqNo - r.FromSeqNo
}

// String is "hub partition from until", the line the guide prints.
func (r OffsetRange) String() string {
	return fmt.Sprintf("%s %s %d %d", r.Name, r.PartitionID, r.FromSeqNo, r.UntilSeqNo)
}

// Validate reports a range that can never be read.
func (r OffsetRange) Validate() error {
	switch {
	case r.Name == "":
		return errorf(CodeInvalidRange, "range %s: no event hub name", r)
	case r.PartitionID == "":
		return errorf(CodeInvalidRange, "range %s: no partition ID", r)
	case r.FromSeqNo < 0:
		return &Error{Code: CodeInvalidRange, Hub: r.Name, PartitionID: r.PartitionID,
			Message: fmt.Sprintf("range [%d, %d): sequence numbers start at 0", r.FromSeqNo, r.UntilSeqNo)}
	case r.UntilSeqNo < r.FromSeqNo:
		return &Error{Code: CodeInvalidRange, Hub: r.Name, PartitionID: r.PartitionID,
			Message: fmt.Sprintf("range [%d, %d): until is below from", r.FromSeqNo, r.UntilSeqNo)}
	case r.ResetFrom != 0 && r.ResetFrom <= r.UntilSeqNo:
		return &Error{Code: CodeInvalidRange, Hub: r.Name, PartitionID: r.PartitionID,
			Message: fmt.Sprintf("range [%d, %d) reset from %d: a reset comes from a position past the range's end", r.FromSeqNo, r.UntilSeqNo, r.ResetFrom)}
	}
	return nil
}

// ParseOffsetRange reads "PARTITION:FROM:UNTIL" for the given hub, the form
// of the command line's --range.
func ParseOffsetRange(hub, s string) (OffsetRange, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return OffsetRange{}, errorf(CodeInvalidRange, "range %q: want PARTITION:FROM:UNTIL, e.g. 0:0:100", s)
	}
	from, err1 := strconv.ParseInt(parts[1], 10, 64)
	until, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return OffsetRange{}, errorf(CodeInvalidRange, "range %q: FROM and UNTIL must be sequence numbers", s)
	}
	r := OffsetRange{Name: hub, PartitionID: parts[0], FromSeqNo: from, UntilSeqNo: until}
	if err := r.Validate(); err != nil {
		return OffsetRange{}, err
	}
	return r, nil
}
