package capture

import (
	"io"

	"github.com/ehstream/ehstream/eventhubs"
)

// Format writes events into files of one kind: Avro in Event Hubs
// Capture's schema, or Parquet.
type Format interface {
	// Name is the format's name, as --format gives it: "avro", "parquet".
	Name() string
	// Ext is its files' extension, with the dot: ".avro".
	Ext() string
	// NewFileWriter starts a file on w for events of one partition.
	NewFileWriter(w io.Writer, f FileInfo) (FileWriter, error)
}

// FileInfo is what is known of a file when it starts.
type FileInfo struct {
	Namespace   string // the namespace's host, e.g. "myns.servicebus.windows.net"
	EventHub    string
	PartitionID string
}

// FileWriter writes one file's events, in the partition's order.
type FileWriter interface {
	Write(ev *eventhubs.Event) error
	// Size is about how many bytes the file holds were it closed now,
	// for rolling files by size.
	Size() int64
	// Close writes what ends the file (the last block, the footer) to w.
	// It does not close w.
	Close() error
}
