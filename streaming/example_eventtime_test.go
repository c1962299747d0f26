package streaming_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// readingTime is a reading's event time: lines are "15:04:05 device",
// on 1 January 2025 (UTC). With Event Hubs, eventhubs.EnqueuedTime is the
// usual event time.
func readingTime(line string) time.Time {
	t, _ := time.Parse("2006-01-02 15:04:05", "2025-01-01 "+strings.Fields(line)[0])
	return t
}

// Per-minute counts by device, by the time each reading was taken: a
// minute is emitted once (AppendMode), when the watermark, 30 s behind the
// latest reading, passes its end. The 12:00:59 reading of batch 3 comes
// after the watermark passed 12:01 and is late: counted, and handed to
// the Late stream.
func ExampleReduceByKeyAndEventTimeWindow() {
	batches := [][][]string{
		{{"12:00:05 a", "12:00:50 b"}, {"12:01:10 a"}},
		{{"12:00:40 a"}, {"12:02:00 b"}},
		{{"12:00:59 b"}, {"12:03:00 a"}},
	}
	var counts *streaming.EventTimeWindowed[string, streaming.WindowedKV[string, int64]]
	example(batches, func(ssc *streaming.Context, readings streaming.DStream[string]) {
		var err error
		counts, err = streaming.ReduceByKeyAndEventTimeWindow(readings, readingTime,
			func(line string) streaming.KV[string, int64] {
				return streaming.KV[string, int64]{Key: strings.Fields(line)[1], Value: 1}
			},
			func(a, b int64) int64 { return a + b },
			streaming.EventTimeWindow{Length: time.Minute, AllowedLateness: 30 * time.Second, Mode: streaming.AppendMode})
		if err != nil {
			panic(err)
		}
		print(streaming.Map(counts.Windows(), func(w streaming.WindowedKV[string, int64]) string {
			return fmt.Sprintf("%s-%s/%s=%d", w.Window.Start.Format("15:04"), w.Window.End.Format("15:04"), w.Key, w.Value)
		}))
		print(streaming.Map(counts.Late(), func(line string) string { return "late:" + strings.ReplaceAll(line, " ", "/") }))
	})
	st := counts.Stats()
	fmt.Printf("watermark %s, %d late, %d (window, device) aggregates open\n", st.Watermark.Watermark.Format("15:04:05"), st.Late, st.Windows)
	// Output:
	// batch 1:
	// batch 1:
	// batch 2: 12:00-12:01/a=2 12:00-12:01/b=1
	// batch 2:
	// batch 3: 12:01-12:02/a=1
	// batch 3: late:12:00:59/b
	// watermark 12:02:30, 1 late, 2 (window, device) aggregates open
}

// Readings per minute, as they come: each batch emits the minutes it
// changed with their counts so far (UpdateMode, the default), to upsert.
// Without allowed lateness the watermark after batch 1 is 12:01:10, so
// the 12:00:40 reading of batch 2 is late and counts in no minute.
func ExampleCountByEventTimeWindow() {
	batches := [][][]string{
		{{"12:00:05 a", "12:00:50 b"}, {"12:01:10 a"}},
		{{"12:00:40 a"}, {"12:02:00 b"}},
	}
	example(batches, func(ssc *streaming.Context, readings streaming.DStream[string]) {
		perMinute, err := streaming.CountByEventTimeWindow(readings, readingTime, streaming.EventTimeWindow{Length: time.Minute})
		if err != nil {
			panic(err)
		}
		print(streaming.Map(perMinute.Windows(), func(w streaming.Windowed[int64]) string {
			return fmt.Sprintf("%s=%d", w.Window.Start.Format("15:04"), w.Value)
		}))
	})
	// Output:
	// batch 1: 12:00=2 12:01=1
	// batch 2: 12:02=1
}
