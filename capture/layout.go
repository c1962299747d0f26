package capture

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// FileName is where a file of events lies and what it covers: Event Hubs
// Capture's layout, {Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/
// {Day}/{Hour}/{Minute}/{Second}, the time being the enqueued time (UTC)
// of the file's first event, then the range of sequence numbers the file
// holds, so that the visible files are the record of what was written
// and a replay writes the same name:
//
//	myns.servicebus.windows.net/orders/3/2026/12/07/15/04/05-00000000000000001000-00000000000000002000.avro
//
// Sequence numbers are zero-padded to 20 digits, so that names sort as
// the ranges do.
type FileName struct {
	Namespace   string
	EventHub    string
	PartitionID string
	First       time.Time // the enqueued time of the file's first event
	From, Until int64     // sequence numbers [From, Until)
	Ext         string    // with its dot
}

// PartitionDir is the directory of a partition's files.
func PartitionDir(namespace, eventHub, partitionID string) string {
	return path.Join(namespace, eventHub, partitionID)
}

// Path is the file's path, with slashes.
func (n FileName) Path() string {
	t := n.First.UTC()
	return path.Join(PartitionDir(n.Namespace, n.EventHub, n.PartitionID),
		fmt.Sprintf("%04d/%02d/%02d/%02d/%02d/%02d-%020d-%020d%s", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), n.From, n.Until, n.Ext))
}

// ParseFileName reads a file's path, as Path writes it.
func ParseFileName(p string) (FileName, error) {
	parts := strings.Split(p, "/")
	if len(parts) < 9 {
		return FileName{}, fmt.Errorf("capture: %q is not a file of the layout {Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}-{From}-{Until}.ext", p)
	}
	parts = parts[len(parts)-9:]
	base := parts[8]
	ext := path.Ext(base)
	fields := strings.Split(strings.TrimSuffix(base, ext), "-")
	if len(fields) != 3 {
		return FileName{}, fmt.Errorf("capture: %q: the file name is not {Second}-{From}-{Until}%s", p, ext)
	}
	var nums [8]int
	for i, s := range append(parts[3:8:8], fields[0]) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return FileName{}, fmt.Errorf("capture: %q: %q is not a number of the time", p, s)
		}
		nums[i] = n
	}
	from, err1 := strconv.ParseInt(fields[1], 10, 64)
	until, err2 := strconv.ParseInt(fields[2], 10, 64)
	if err1 != nil || err2 != nil || from < 0 || until < from {
		return FileName{}, fmt.Errorf("capture: %q: the range %s-%s is not two sequence numbers, the first at most the second", p, fields[1], fields[2])
	}
	first := time.Date(nums[0], time.Month(nums[1]), nums[2], nums[3], nums[4], nums[5], 0, time.UTC)
	n := FileName{Namespace: parts[0], EventHub: parts[1], PartitionID: parts[2], First: first, From: from, Until: until, Ext: ext}
	if n.Path() != path.Join(parts...) {
		return FileName{}, fmt.Errorf("capture: %q is not a name this layout writes (it would be %q)", p, n.Path())
	}
	return n, nil
}
