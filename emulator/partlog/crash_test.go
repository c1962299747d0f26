package partlog

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// TestCrashAndRetention runs many random programs of appends, segment
// rolls, retention, clean restarts and crashes (at any point inside an
// operation, keeping only what was synced, or a torn part of the rest):
// numbering never goes back, and acknowledged events are only ever lost
// to retention.
func TestCrashAndRetention(t *testing.T) {
	programs := 400
	if testing.Short() {
		programs = 40
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < programs; i++ {
		prog := make([]byte, 300)
		rng.Read(prog)
		if !runCrashProgram(t, prog) {
			t.Fatalf("program %d failed: %x", i, prog)
		}
	}
}

// FuzzCrashRetention is TestCrashAndRetention with programs from the
// fuzzer: go test -run x -fuzz FuzzCrashRetention ./emulator/partlog
func FuzzCrashRetention(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 0, 0, 4, 250, 5, 6, 0, 1, 7, 3, 1, 8, 9, 2, 0})
	f.Add(bytes.Repeat([]byte{0, 0, 0, 4, 200, 5, 7, 2, 1}, 20))
	f.Add(bytes.Repeat([]byte{1, 4, 99, 9, 4, 5, 5, 6, 3}, 20))
	f.Fuzz(func(t *testing.T, prog []byte) {
		// Longer programs find nothing new, and each open checks every event.
		runCrashProgram(t, prog[:min(len(prog), 2000)])
	})
}

type ackedEvent struct {
	payload string
	meta    Meta
}

// crashRun is one program's state: what the log acknowledged or showed,
// which it may never take back.
type crashRun struct {
	t     *testing.T
	prog  []byte
	fs    *crashFS
	rng   *rand.Rand
	now   time.Time
	opts  Options
	l     *Log
	known map[int64]ackedEvent // acknowledged by Append, or read after an open
	// floor is one past the highest sequence number known: the least the
	// log may number next.
	floor   int64
	maxOff  int64
	counter int
	trace   []string // what the program did, for failure messages
}

func (r *crashRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

func runCrashProgram(t *testing.T, prog []byte) bool {
	t.Helper()
	h := fnv.New64()
	h.Write(prog)
	r := &crashRun{t: t, prog: prog, fs: newCrashFS(), rng: rand.New(rand.NewSource(int64(h.Sum64()))),
		now: time.Unix(1_700_000_000, 0), known: map[int64]ackedEvent{}, maxOff: -1}
	r.opts = Options{Dir: "/p", SegmentBytes: 150, Retention: 100 * time.Millisecond, Now: func() time.Time { return r.now }, fs: r.fs}
	if !r.open() {
		return false
	}
	for len(r.prog) > 0 {
		ok := true
		switch op := r.byte() % 10; op {
		case 0, 1, 2, 3:
			ok = r.append(int(op)%3 + 1)
		case 4:
			r.now = r.now.Add(time.Duration(r.byte()%60) * time.Millisecond)
			r.logf("clock at %s", r.now.Format(time.StampMilli))
		case 5:
			r.expire()
		case 6: // a crash between operations
			r.crash()
			ok = r.open()
		case 7: // a crash in the middle of an append or of retention
			n := int(r.byte() % 8)
			r.logf("the disk stops after %d operations", n)
			r.fs.dieAfter(n)
			if r.byte()%2 == 0 {
				r.append(2)
			} else {
				r.now = r.now.Add(40 * time.Millisecond)
				r.expire()
			}
			r.crash()
			ok = r.open()
		case 8:
			r.logf("close")
			r.l.Close()
			ok = r.open()
		case 9: // a crash in the middle of recovering from a crash
			r.crash()
			n := int(r.byte() % 8)
			l, err := Open(r.opts)
			r.logf("open with the disk stopping after %d operations: %v", n, err)
			if err == nil {
				l.Close()
			}
			r.crash()
			ok = r.open()
		}
		if !ok {
			return false
		}
	}
	r.l.Close()
	return true
}

func (r *crashRun) crash() {
	kind := crashKind(r.byte() % byte(crashKinds))
	r.logf("%s", kind)
	r.fs.crash(r.rng, kind)
}

func (r *crashRun) expire() {
	err := r.l.Expire(r.now)
	begin, next := r.l.Bounds()
	r.logf("expire at %s: %d..%d %v", r.now.Format(time.StampMilli), begin, next, err)
}

func (r *crashRun) byte() byte {
	if len(r.prog) == 0 {
		return 0
	}
	b := r.prog[0]
	r.prog = r.prog[1:]
	return b
}

func (r *crashRun) fail(format string, args ...any) bool {
	r.t.Helper()
	r.t.Errorf(format+"\nfiles:\n%s\nsteps:\n%s", append(args, r.fs, strings.Join(r.trace, "\n"))...)
	return false
}

// append adds n events; an acknowledged append must number from the floor.
func (r *crashRun) append(n int) bool {
	r.t.Helper()
	payloads := make([]string, n)
	for i := range payloads {
		r.counter++
		payloads[i] = fmt.Sprintf("e%d-%s", r.counter, strings.Repeat("x", int(r.byte()%40)))
	}
	var metas []Meta
	m, err := r.l.Append(n, func(i int, m Meta, dst []byte) ([]byte, error) {
		metas = append(metas, m)
		return append(dst, payloads[i]...), nil
	})
	if err != nil {
		r.logf("append %d: %v", n, err)
		return true // the disk stopped: not acknowledged
	}
	r.logf("append %d: %d at offset %d", n, m.SequenceNumber, m.Offset)
	if m.SequenceNumber != r.floor || m.Offset <= r.maxOff {
		return r.fail("append numbered %+v; the floor is %d and the highest offset known %d", m, r.floor, r.maxOff)
	}
	for i, m := range metas {
		r.known[m.SequenceNumber] = ackedEvent{payload: payloads[i], meta: m}
	}
	r.floor = m.SequenceNumber + int64(n)
	r.maxOff = metas[n-1].Offset
	return true
}

// open opens the log and checks it against everything known.
func (r *crashRun) open() bool {
	r.t.Helper()
	l, err := Open(r.opts)
	if err != nil {
		return r.fail("open: %v", err)
	}
	r.l = l
	begin, next := l.Bounds()
	r.logf("open: %d..%d", begin, next)
	if next < r.floor {
		return r.fail("reopened with next %d, below %d: numbering went back", next, r.floor)
	}
	cutoff := r.now.Add(-r.opts.Retention)
	for seq, e := range r.known {
		if seq < begin && !e.meta.EnqueuedTime.Before(cutoff) {
			return r.fail("event %d (enqueued %s) is gone though retention keeps everything after %s; log starts at %d",
				seq, e.meta.EnqueuedTime.Format(time.StampMilli), cutoff.Format(time.StampMilli), begin)
		}
	}
	prev := Meta{Offset: -1}
	for s := begin; s < next; {
		recs, err := l.Read(nil, s, 100, 1<<20)
		if err != nil || len(recs) == 0 {
			return r.fail("read at %d of %d..%d: %d records, %v", s, begin, next, len(recs), err)
		}
		for _, rec := range recs {
			if rec.SequenceNumber != s || rec.Offset <= prev.Offset || rec.EnqueuedTime.Before(prev.EnqueuedTime) {
				return r.fail("record %+v after %+v", rec.Meta, prev)
			}
			if e, ok := r.known[s]; ok && (e.payload != string(rec.Payload) || e.meta != rec.Meta) {
				return r.fail("event %d is %+v %q, was %+v %q", s, rec.Meta, rec.Payload, e.meta, e.payload)
			}
			r.known[s] = ackedEvent{payload: string(rec.Payload), meta: rec.Meta}
			r.maxOff = max(r.maxOff, rec.Offset)
			prev = rec.Meta
			s++
		}
	}
	last, ok := l.Last()
	switch e, known := r.known[next-1]; {
	case next == 0 && ok:
		return r.fail("Last() = %+v in a log that never had an event", last)
	case next > 0 && (!ok || last.SequenceNumber != next-1):
		return r.fail("Last() = %+v %v, want sequence number %d", last, ok, next-1)
	case known && last != e.meta:
		return r.fail("Last() = %+v, want %+v", last, e.meta)
	}
	r.floor = next
	return true
}
