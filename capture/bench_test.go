package capture

import (
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// BenchmarkAvroWrite is one event of 100 bytes of body written in
// Capture's Avro, deflated at the default level, at 2 and 6 (flate's own
// default), and not compressed, for JSON bodies and for bodies of random
// hex (benchHexEvents); it reports the file's bytes per event.
func BenchmarkAvroWrite(b *testing.B) {
	bodies := map[string][]*eventhubs.Event{"json": benchEvents(1 << 17), "hex": benchHexEvents(1 << 17)}
	for _, body := range []string{"json", "hex"} {
		for _, o := range []AvroOptions{{}, {DeflateLevel: 2}, {DeflateLevel: 6}, {Codec: "null"}} {
			name := fmt.Sprintf("body=%s/deflate=%d", body, cmp.Or(o.DeflateLevel, DefaultDeflateLevel))
			if o.Codec == "null" {
				name = "body=" + body + "/null"
			}
			b.Run(name, func(b *testing.B) {
				f, err := Avro(&o)
				if err != nil {
					b.Fatal(err)
				}
				benchmarkWriteEvents(b, f, bodies[body])
			})
		}
	}
}

// BenchmarkParquetWrite is one event of 100 bytes of body written as a
// Parquet row, zstd, with no extracted columns and with two.
func BenchmarkParquetWrite(b *testing.B) {
	for _, spec := range []string{"", "device:string=device,temp:double=reading.temp"} {
		cols, err := ParseColumns(spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("columns=%d", len(cols)), func(b *testing.B) {
			f, err := Parquet(&ParquetOptions{Columns: cols})
			if err != nil {
				b.Fatal(err)
			}
			benchmarkWrite(b, f)
		})
	}
}

// benchmarkWrite writes b.N events of 100-byte JSON bodies into one file
// of format f and reports the bytes the file has per event;
// benchmarkWriteEvents does so with evs.
func benchmarkWrite(b *testing.B, f Format) {
	benchmarkWriteEvents(b, f, benchEvents(1<<17)) // more than a row group: no body repeats within one
}

func benchmarkWriteEvents(b *testing.B, f Format, evs []*eventhubs.Event) {
	cw := &countingWriter{w: io.Discard}
	w, err := f.NewFileWriter(cw, FileInfo{Namespace: "ns", EventHub: "hub", PartitionID: "0"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := evs[i%len(evs)]
		ev.SequenceNumber = int64(i)
		if err := w.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cw.n)/float64(b.N), "B/event")
}

// benchHexEvents are n events as streambench -body-pad hex makes them: a
// 100-byte body of a time in milliseconds, a space and random hex digits,
// and no properties, as hard to compress as a body's random part.
func benchHexEvents(n int) []*eventhubs.Event {
	evs := benchEvents(n)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ev := range evs {
		ev.Body = append(ev.Body[:0], "1767225600000 "...)
		for len(ev.Body) < 100 {
			ev.Body = append(ev.Body, "0123456789abcdef"[rng.IntN(16)])
		}
		ev.PartitionKey, ev.Properties = "", nil
	}
	return evs
}

// benchEvents are events as a device sends them: a 100-byte JSON body
// ending in random hex (so that compression does not find the body
// repeated), two properties, a partition key.
func benchEvents(n int) []*eventhubs.Event {
	at := time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]*eventhubs.Event, n)
	for i := range evs {
		body := fmt.Sprintf(`{"device":"dev-%04d","reading":{"temp":%d.5},"time":"%s","pad":"`, i%100, i%40, at.Format(time.RFC3339))
		for len(body) < 98 {
			body += strconv.FormatUint(rng.Uint64()%16, 16)
		}
		evs[i] = &eventhubs.Event{Body: []byte(body + `"}`), PartitionID: "0", Offset: fmt.Sprint(i * 200),
			EnqueuedTime: at.Add(time.Duration(i) * time.Millisecond), PartitionKey: fmt.Sprintf("dev-%04d", i%100),
			Properties: map[string]any{"kind": "reading", "n": int64(i)}}
	}
	return evs
}
