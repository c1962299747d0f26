package capture

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// pythonWithAvro is the interpreter with Debian's python3-avro: Debian's
// own, rather than whichever python3 comes first in PATH.
const pythonWithAvro = "/usr/bin/python3"

// Apache Avro's Python library reads our Avro file of events the
// emulator gave back to ehstream: the schema it carries is Capture's,
// field by field, and each record's fields are the event's.
func TestAvroReadByApacheAvroPython(t *testing.T) {
	needReader(t, "python3-avro (Debian's, for "+pythonWithAvro+")", func() error {
		return exec.Command(pythonWithAvro, "-c", "import avro.datafile").Run()
	})
	evs := hubEvents(t)
	file := filepath.Join(t.TempDir(), "events.avro")
	writeEventsFile(t, mustAvro(t), file, evs)
	var got struct {
		Schema  any
		Codec   string
		Records []map[string]any
	}
	decodeJSON(t, runReader(t, pythonWithAvro, "testdata/read_avro.py", file), &got)

	var want any
	_ = json.Unmarshal([]byte(documentedSchema), &want)
	if !reflect.DeepEqual(got.Schema, want) || got.Codec != "deflate" {
		t.Fatalf("the file carries schema %v with codec %s, want Capture's %v, deflate", got.Schema, got.Codec, want)
	}
	if len(got.Records) != len(evs) {
		t.Fatalf("%d records, want %d", len(got.Records), len(evs))
	}
	for i, ev := range evs {
		checkAvroRecord(t, got.Records[i], ev)
	}
	wantProps := map[string]any{"s": "x", "i": json.Number("-3"), "i32": json.Number("7"), "f": json.Number("1.25"),
		"b": "true", "t": json.Number(strconv.FormatInt(sentAt.UnixMilli(), 10)), "bin": map[string]any{"hex": "00ff"},
		"uuid": "01020304-0506-0708-090a-0b0c0d0e0f10"}
	if p := got.Records[0]["Properties"]; !reflect.DeepEqual(p, wantProps) {
		t.Fatalf("event 0's properties read back as %v, want %v", p, wantProps)
	}
}

// checkAvroRecord compares a record as Python read it with the event.
func checkAvroRecord(t *testing.T, r map[string]any, ev *eventhubs.Event) {
	t.Helper()
	enq, err := time.Parse(EnqueuedTimeLayout, r["EnqueuedTimeUtc"].(string))
	sys := r["SystemProperties"].(map[string]any)
	if r["SequenceNumber"] != json.Number(strconv.FormatInt(ev.SequenceNumber, 10)) || r["Offset"] != ev.Offset ||
		err != nil || !enq.Equal(ev.EnqueuedTime.Truncate(time.Second)) ||
		sys["x-opt-enqueued-time"] != json.Number(strconv.FormatInt(ev.EnqueuedTime.UnixMilli(), 10)) {
		t.Fatalf("record %v, event %d at %s offset %s", r, ev.SequenceNumber, ev.EnqueuedTime, ev.Offset)
	}
	if pk, ok := sys["x-opt-partition-key"]; (ev.PartitionKey != "") != ok || (ok && pk != ev.PartitionKey) {
		t.Fatalf("event %d: x-opt-partition-key %v, the event's partition key %q", ev.SequenceNumber, pk, ev.PartitionKey)
	}
	if body := r["Body"].(map[string]any)["hex"]; body != hex.EncodeToString(ev.Body) {
		t.Fatalf("event %d: body %v, want %x", ev.SequenceNumber, body, ev.Body)
	}
}

// DuckDB reads our Parquet file of events the emulator gave back to
// ehstream: row count, sequence numbers, bodies, properties, enqueued
// times, and the columns taken from the JSON bodies.
func TestParquetReadByDuckDB(t *testing.T) {
	dir, _ := filepath.Abs("testdata/duckdb")
	needReader(t, "node and @duckdb/node-api (npm ci in capture/testdata/duckdb)", func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return err
		}
		_, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api"))
		return err
	})
	evs := hubEvents(t)
	cols, err := ParseColumns("device:string=device,temp:double=reading.temp,at:timestamp=at")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "events.parquet")
	writeEventsFile(t, mustParquet(t, &ParquetOptions{Columns: cols, RowGroupRows: 2}), file, evs)
	var rows []map[string]any
	decodeJSON(t, runReader(t, "node", filepath.Join(dir, "read_parquet.js"), file), &rows)
	if len(rows) != len(evs) {
		t.Fatalf("DuckDB read %d rows, want %d", len(rows), len(evs))
	}
	for i, ev := range evs {
		checkDuckDBRow(t, rows[i], ev)
	}
	if r := rows[0]; r["device"] != "d1" || r["temp"] != json.Number("21.5") || r["at"] != "2026-12-07 15:04:05+00" ||
		r["content_type"] != "application/json" || r["message_id"] != "m-0" ||
		r["props"] != `{"b":"true","bin":"AP8=","f":"1.25","i":"-3","i32":"7","s":"x","t":"2026-12-07T15:04:05.25Z","uuid":"01020304-0506-0708-090a-0b0c0d0e0f10"}` {
		t.Fatalf("row 0: %v", r)
	}
	if r := rows[3]; r["device"] != "d2" || r["temp"] != nil || r["at"] != nil {
		t.Fatalf("row 3 (temp a string, no at): %v", r)
	}
}

// checkDuckDBRow compares a row as DuckDB read it with the event.
func checkDuckDBRow(t *testing.T, r map[string]any, ev *eventhubs.Event) {
	t.Helper()
	pk := any(nil)
	if ev.PartitionKey != "" {
		pk = ev.PartitionKey
	}
	if r["seq"] != strconv.FormatInt(ev.SequenceNumber, 10) || r["offset"] != ev.Offset || r["partition_id"] != "0" ||
		r["enqueued_us"] != strconv.FormatInt(ev.EnqueuedTime.UnixMicro(), 10) || r["partition_key"] != pk ||
		r["body_hex"] != strings.ToUpper(hex.EncodeToString(ev.Body)) ||
		r["enqueued_type"] != "TIMESTAMP WITH TIME ZONE" || r["props_type"] != "MAP(VARCHAR, VARCHAR)" {
		t.Fatalf("row %v, event %d at %s (%d µs) offset %s body %x", r, ev.SequenceNumber, ev.EnqueuedTime, ev.EnqueuedTime.UnixMicro(), ev.Offset, ev.Body)
	}
}

// needReader skips the test when check fails, unless in CI (CI=true),
// where .ci/run installs the reader and its absence fails the test.
func needReader(t *testing.T, what string, check func() error) {
	t.Helper()
	err := check()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (%v), and CI=true: .ci/run installs it", what, err)
	}
	t.Skipf("needs %s (bash .ci/run installs it): %v", what, err)
}

// runReader runs a reader script on a file and returns what it printed;
// the test fails, with the script's stderr, when it fails.
func runReader(t *testing.T, name, script, file string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, script, file).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s", name, script, err, stderr)
	}
	return out
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("reader printed %q: %v", b, err)
	}
}

func writeEventsFile(t *testing.T, f Format, path string, evs []*eventhubs.Event) {
	t.Helper()
	var buf bytes.Buffer
	writeFile(t, f, &buf, evs...)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustAvro(t *testing.T) Format {
	t.Helper()
	f, err := Avro(nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sentAt is the time property every test event carries.
var sentAt = time.Date(2026, 12, 7, 15, 4, 5, 250e6, time.UTC)

// hubEvents sends events through the official SDK to an in-process
// emulator and reads them back with an RDD: five events of partition 0,
// the first four with partition key dev-1. Event 0 has a JSON body and
// properties of every AMQP type a sender uses, 1 a binary body, 2 an
// empty one, 3 JSON whose temp is a string, 4 plain text.
func hubEvents(t *testing.T) []*eventhubs.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "orders", PartitionCount: 1}}})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = eventhubs.CloseAll(context.Background()); _ = srv.Close() })
	send(t, ctx, srv, &azeventhubs.EventDataBatchOptions{PartitionKey: to.Ptr("dev-1")},
		&azeventhubs.EventData{Body: []byte(`{"device":"d1","reading":{"temp":21.5},"at":"2026-12-07T15:04:05Z"}`),
			ContentType: to.Ptr("application/json"), MessageID: to.Ptr("m-0"),
			Properties: map[string]any{"s": "x", "i": int64(-3), "i32": int32(7), "f": 1.25, "b": true, "t": sentAt,
				"bin": []byte{0, 255}, "uuid": testUUID}},
		&azeventhubs.EventData{Body: []byte{0, 1, 2, 255, 254}},
		&azeventhubs.EventData{Body: []byte{}},
		&azeventhubs.EventData{Body: []byte(`{"device":"d2","reading":{"temp":"hot"}}`)})
	send(t, ctx, srv, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("plain")})
	conf := eventhubs.NewConf(srv.ConnectionString("orders")).SetReceiverTimeout(5 * time.Second).SetOperationTimeout(10 * time.Second)
	rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{{Name: "orders", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 5}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil || len(evs) != 5 {
		t.Fatalf("read back %d events, %v; want 5", len(evs), err)
	}
	return evs
}

func send(t *testing.T, ctx context.Context, srv *emulator.Server, opts *azeventhubs.EventDataBatchOptions, evs ...*azeventhubs.EventData) {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("orders"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	b, err := p.NewEventDataBatch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := b.AddEventData(ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SendEventDataBatch(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
}
