package streaming

import (
	"fmt"
	"sync"
	"time"
)

// OutputMode says which windows an event-time window emits each batch, as
// Structured Streaming's output modes do.
type OutputMode int

const (
	// UpdateMode emits, each batch, every (window, key) the batch changed,
	// with its value so far: a window is emitted again whenever items reach
	// it, until the watermark passes its end. An upsert keyed by window and
	// key keeps the latest.
	UpdateMode OutputMode = iota
	// AppendMode emits each (window, key) once, with its final value, in the
	// batch whose watermark passes the window's end; its state is then
	// dropped. An insert is enough.
	AppendMode
)

func (m OutputMode) String() string {
	switch m {
	case UpdateMode:
		return "update"
	case AppendMode:
		return "append"
	}
	return fmt.Sprintf("OutputMode(%d)", int(m))
}

// EventTimeWindow says how items are windowed by the time each carries (its
// event time), rather than by the batch that read it.
type EventTimeWindow struct {
	// Length is each window's length; it must be positive.
	Length time.Duration
	// Slide is how far apart windows start; 0 means Length: tumbling
	// windows, each item in one. A shorter slide makes sliding windows,
	// an item in each of the Length/Slide windows that cover its time.
	// Windows start at multiples of Slide since the Unix epoch, so a 1
	// minute window is a clock minute (UTC).
	Slide time.Duration
	// AllowedLateness is how far behind the largest event time seen an
	// item may be and still count: the watermark is the largest event time
	// seen minus AllowedLateness. Default 0.
	AllowedLateness time.Duration
	// Mode is UpdateMode (the default) or AppendMode.
	Mode OutputMode
}

// check validates w for op and returns it with its defaults filled in.
func (w EventTimeWindow) check(op string) (EventTimeWindow, error) {
	if w.Slide == 0 {
		w.Slide = w.Length
	}
	switch {
	case w.Length <= 0:
		return w, fmt.Errorf("streaming: %s: window length %s is not positive; give EventTimeWindow.Length, say time.Minute", op, w.Length)
	case w.Slide < 0:
		return w, fmt.Errorf("streaming: %s: slide %s is negative; give 0 for tumbling windows or a positive slide", op, w.Slide)
	case w.AllowedLateness < 0:
		return w, fmt.Errorf("streaming: %s: allowed lateness %s is negative; give 0 or more", op, w.AllowedLateness)
	case w.Mode != UpdateMode && w.Mode != AppendMode:
		return w, fmt.Errorf("streaming: %s: output mode %d is neither UpdateMode nor AppendMode", op, int(w.Mode))
	}
	return w, nil
}

// TimeWindow is one window of event time: from Start (inclusive) to End
// (exclusive).
type TimeWindow struct {
	Start time.Time
	End   time.Time
}

// WindowedKV is a key's value in one event-time window.
type WindowedKV[K comparable, V any] struct {
	Window TimeWindow
	Key    K
	Value  V
}

// Windowed is the value of one event-time window of an unkeyed stream.
type Windowed[V any] struct {
	Window TimeWindow
	Value  V
}

// Watermark is where an event-time window stands: the largest event time
// seen, and the watermark, that minus the allowed lateness. An item whose
// every window ends at or before the watermark is late.
type Watermark struct {
	// MaxEventTime is the largest event time of the batches done; zero
	// before the first item.
	MaxEventTime time.Time
	// Watermark is MaxEventTime minus the allowed lateness; it never moves
	// back. Zero before the first item: nothing is late.
	Watermark time.Time
}

// EventTimeStats is what an event-time window has seen, as of the last
// batch done; the late counts survive restarts with the checkpoint.
type EventTimeStats struct {
	Watermark
	// Late is how many items were behind the watermark since the stream
	// started; LateInBatch how many of the last batch.
	Late        int64
	LateInBatch int64
	// Windows is how many (window, key) aggregates the state holds.
	Windows int
}

// EventTimeWindowed is the result of an event-time window: the stream of
// window values (R: WindowedKV or Windowed), the stream of late items
// (T), and the window's stats.
type EventTimeWindowed[T, R any] struct {
	windows DStream[R]
	late    DStream[T]
	stats   *statsBox
}

// Windows is the stream of window values: each batch, those the output
// mode says.
func (e *EventTimeWindowed[T, R]) Windows() DStream[R] { return e.windows }

// Late is the side output: each batch, the items that were behind the
// watermark, a partition's in order. They count in no window.
func (e *EventTimeWindowed[T, R]) Late() DStream[T] { return e.late }

// Stats is the window's stats as of the last batch done; safe from any
// goroutine (a listener, a status page).
func (e *EventTimeWindowed[T, R]) Stats() EventTimeStats { return e.stats.get() }

// statsBox holds the stats the goroutine running the stream publishes.
type statsBox struct {
	mu sync.Mutex
	s  EventTimeStats
}

func (b *statsBox) get() EventTimeStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

func (b *statsBox) set(s EventTimeStats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s = s
}

// ReduceByKeyAndEventTimeWindow returns, per window of event time and
// key, the values of the items in the window combined with reduce, which
// must be associative and commutative. eventTime gives an item's time (for
// Event Hubs events, eventhubs.EnqueuedTime is the usual one), pair its
// key and value. w.Mode says which windows the stream emits each batch.
//
// The watermark a batch checks items against is the one after the batch
// before: the largest event time of all the batches before, across all
// partitions, minus w.AllowedLateness. An item that falls only in windows
// ending at or before it is late: counted, and handed to the Late stream
// instead. After the batch the watermark moves on with the batch's largest
// event time; windows ending at or before it are then emitted (AppendMode)
// and their state dropped. So a batch's results do not depend on the order
// of its partitions, and a replayed batch, run from the checkpointed state
// and watermark of the batch before, emits the same windows.
func ReduceByKeyAndEventTimeWindow[T any, K comparable, V any](ds DStream[T], eventTime func(T) time.Time, pair func(T) KV[K, V], reduce func(V, V) V, w EventTimeWindow) (*EventTimeWindowed[T, WindowedKV[K, V]], error) {
	return eventTimeWindow(ds, "ReduceByKeyAndEventTimeWindow", eventTime, pair, reduce, w)
}

// ReduceByEventTimeWindow is ReduceByKeyAndEventTimeWindow without keys:
// per window of event time, the values of its items combined with reduce.
func ReduceByEventTimeWindow[T, V any](ds DStream[T], eventTime func(T) time.Time, value func(T) V, reduce func(V, V) V, w EventTimeWindow) (*EventTimeWindowed[T, Windowed[V]], error) {
	if value == nil {
		return nil, fmt.Errorf("streaming: ReduceByEventTimeWindow: value is nil")
	}
	// One key for all: bool, since encoding/gob cannot encode struct{}.
	pair := func(x T) KV[bool, V] { return KV[bool, V]{Value: value(x)} }
	keyed, err := eventTimeWindow(ds, "ReduceByEventTimeWindow", eventTime, pair, reduce, w)
	if err != nil {
		return nil, err
	}
	return unkeyed(keyed), nil
}

// CountByEventTimeWindow returns, per window of event time, how many items
// fall in it.
func CountByEventTimeWindow[T any](ds DStream[T], eventTime func(T) time.Time, w EventTimeWindow) (*EventTimeWindowed[T, Windowed[int64]], error) {
	pair := func(T) KV[bool, int64] { return KV[bool, int64]{Value: 1} }
	keyed, err := eventTimeWindow(ds, "CountByEventTimeWindow", eventTime, pair, sum[int64], w)
	if err != nil {
		return nil, err
	}
	return unkeyed(keyed), nil
}

// unkeyed drops the single key of a keyed window's values; the stream
// keeps the stateful step, so that Named still names it.
func unkeyed[T, V any](keyed *EventTimeWindowed[T, WindowedKV[bool, V]]) *EventTimeWindowed[T, Windowed[V]] {
	vals := Map(keyed.windows, func(kv WindowedKV[bool, V]) Windowed[V] { return Windowed[V]{Window: kv.Window, Value: kv.Value} })
	vals.n.st = keyed.windows.n.st
	return &EventTimeWindowed[T, Windowed[V]]{windows: vals, late: keyed.late, stats: keyed.stats}
}
