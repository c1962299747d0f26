package capture_test

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/eventhubs"
)

// jsonLines is a capture.Format for the tests, until Avro and Parquet
// land: one JSON object per event and line.
type jsonLines struct{}

func (jsonLines) Name() string { return "jsonl" }
func (jsonLines) Ext() string  { return ".jsonl" }
func (jsonLines) NewFileWriter(w io.Writer, _ capture.FileInfo) (capture.FileWriter, error) {
	return &jsonLinesWriter{w: w}, nil
}

// jsonEvent is an event's line.
type jsonEvent struct {
	Partition string `json:"partition"`
	Seq       int64  `json:"seq"`
	Body      []byte `json:"body"`
}

type jsonLinesWriter struct {
	w    io.Writer
	size int64
}

func (j *jsonLinesWriter) Write(ev *eventhubs.Event) error {
	b, err := json.Marshal(jsonEvent{Partition: ev.PartitionID, Seq: ev.SequenceNumber, Body: ev.Body})
	if err != nil {
		return err
	}
	n, err := j.w.Write(append(b, '\n'))
	j.size += int64(n)
	return err
}

func (j *jsonLinesWriter) Size() int64  { return j.size }
func (j *jsonLinesWriter) Close() error { return nil }

// readJSONLines reads a file's events.
func readJSONLines(r io.Reader) ([]jsonEvent, error) {
	var out []jsonEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev jsonEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}
