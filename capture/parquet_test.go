package capture

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ehstream/ehstream/eventhubs"
)

// parquetRow is a row of the Parquet files, as parquet-go reads it back.
type parquetRow struct {
	PartitionID    string            `parquet:"partition_id"`
	SequenceNumber int64             `parquet:"sequence_number"`
	Offset         string            `parquet:"offset"`
	EnqueuedTime   time.Time         `parquet:"enqueued_time,timestamp(microsecond)"`
	PartitionKey   *string           `parquet:"partition_key,optional"`
	Properties     map[string]string `parquet:"properties"`
	Body           []byte            `parquet:"body"`
	ContentType    *string           `parquet:"content_type,optional"`
	MessageID      *string           `parquet:"message_id,optional"`
	Device         *string           `parquet:"device,optional"`
	Temp           *float64          `parquet:"temp,optional"`
}

// Each column reads back as written: properties as strings, optional
// columns null where the event has nothing, extracted columns null where
// the body lacks them.
func TestParquetRoundTrip(t *testing.T) {
	cols, err := ParseColumns("device:string=device,temp:double=reading.temp")
	if err != nil {
		t.Fatal(err)
	}
	ev0 := sampleEvent(7)
	ev0.Body, ev0.ContentType, ev0.MessageID = []byte(`{"device":"d1","reading":{"temp":21.5}}`), "application/json", "m-7"
	ev1 := &eventhubs.Event{PartitionID: "3", SequenceNumber: 8, Offset: "4200", EnqueuedTime: ev0.EnqueuedTime.Add(time.Millisecond)}
	var buf bytes.Buffer
	writeFile(t, mustParquet(t, &ParquetOptions{Columns: cols, RowGroupRows: 1}), &buf, ev0, ev1)

	rows, err := parquet.Read[parquetRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	r := rows[0]
	if r.PartitionID != "3" || r.SequenceNumber != 7 || r.Offset != "4096" || !r.EnqueuedTime.Equal(ev0.EnqueuedTime) ||
		*r.PartitionKey != "pk" || *r.ContentType != "application/json" || *r.MessageID != "m-7" || string(r.Body) != string(ev0.Body) ||
		*r.Device != "d1" || *r.Temp != 21.5 {
		t.Fatalf("row 0: %+v", r)
	}
	wantProps := map[string]string{"s": "x", "i": "-3", "u8": "200", "big": "18446744073709551615", "f": "1.5", "b": "true",
		"bin": "AAE=", "t": "2026-12-07T15:04:05.123Z", "sym": "sym", "uuid": "01020304-0506-0708-090a-0b0c0d0e0f10"}
	if !reflect.DeepEqual(r.Properties, wantProps) {
		t.Fatalf("properties %v, want %v", r.Properties, wantProps)
	}
	r = rows[1]
	if r.SequenceNumber != 8 || r.PartitionKey != nil || r.ContentType != nil || r.Device != nil || r.Temp != nil || len(r.Body) != 0 || len(r.Properties) != 0 {
		t.Fatalf("row 1: %+v", r)
	}
	if n := parquetRowGroups(t, buf.Bytes()); n != 2 {
		t.Fatalf("%d row groups, want 2 at RowGroupRows 1", n)
	}
}

// Size counts the row group being built, and never less than what went
// to the file; a row group of RowGroupBytes is written out.
func TestParquetSizeAndRowGroups(t *testing.T) {
	var buf bytes.Buffer
	w, err := mustParquet(t, &ParquetOptions{RowGroupBytes: 64 << 10, Compression: "snappy"}).NewFileWriter(&buf, FileInfo{})
	if err != nil {
		t.Fatal(err)
	}
	evs := benchEvents(2000)
	for i, ev := range evs {
		if err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
		if s := w.Size(); s < int64(buf.Len()) || (i == 0 && s == 0) {
			t.Fatalf("after event %d Size() = %d, %d written", i, s, buf.Len())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := parquetRowGroups(t, buf.Bytes()); n < 3 {
		t.Fatalf("%d row groups of 2000 events at 64 KiB a group, want several", n)
	}
}

func TestParquetRefusesBadOptions(t *testing.T) {
	for _, o := range []ParquetOptions{{Compression: "gzip"}, {RowGroupRows: -1}, {RowGroupBytes: -5},
		{Columns: []Column{{Name: "offset", Type: ColumnString, Path: []string{"x"}}}}} {
		_, err := Parquet(&o)
		var fe *FormatError
		if !errors.As(err, &fe) || (fe.Code != CodeInvalidOptions && fe.Code != CodeInvalidColumns) {
			t.Errorf("Parquet(%+v) = %v, want an error naming the value", o, err)
		}
	}
}

func mustParquet(t testing.TB, o *ParquetOptions) Format {
	t.Helper()
	f, err := Parquet(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func writeFile(t testing.TB, f Format, buf *bytes.Buffer, evs ...*eventhubs.Event) {
	t.Helper()
	w, err := f.NewFileWriter(buf, FileInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func parquetRowGroups(t *testing.T, b []byte) int {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return len(pf.RowGroups())
}
