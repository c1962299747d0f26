package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func appendN(t testing.TB, l *Log, bodies ...string) Meta {
	t.Helper()
	m, err := l.Append(len(bodies), func(i int, _ Meta, dst []byte) ([]byte, error) {
		return append(dst, bodies[i]...), nil
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return m
}

func readAll(t testing.TB, l *Log) []Record {
	t.Helper()
	begin, next := l.Bounds()
	var out []Record
	for s := begin; s < next; {
		recs, err := l.Read(nil, s, 1000, 1<<20)
		if err != nil {
			t.Fatalf("read from %d: %v", s, err)
		}
		out = append(out, recs...)
		s += int64(len(recs))
	}
	return out
}

func bodies(recs []Record) string {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "%d:%s ", r.SequenceNumber, r.Payload)
	}
	return b.String()
}

func TestAppendReadBothModes(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		l, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		first := appendN(t, l, "a", "bb")
		second := appendN(t, l, "ccc")
		if first.SequenceNumber != 0 || second.SequenceNumber != 2 || second.Offset <= first.Offset {
			t.Fatalf("metas %+v %+v", first, second)
		}
		if got := bodies(readAll(t, l)); got != "0:a 1:bb 2:ccc " {
			t.Fatalf("dir %q: read %q", dir, got)
		}
		recs, _ := l.Read(nil, 0, 2, 1<<20)
		if len(recs) != 2 {
			t.Fatalf("max 2: got %d", len(recs))
		}
		recs, _ = l.Read(nil, 0, 10, 1)
		if len(recs) != 1 {
			t.Fatalf("maxBytes 1: got %d records, want exactly one", len(recs))
		}
		if recs, err := l.Read(nil, 3, 10, 1<<20); err != nil || len(recs) != 0 {
			t.Fatalf("read at next: %d records, %v", len(recs), err)
		}
		if _, err := l.Read(nil, 4, 10, 1<<20); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("read past next: %v", err)
		}
		if got := l.SeqAtOffset(second.Offset, true); got != 2 {
			t.Fatalf("SeqAtOffset inclusive = %d", got)
		}
		if got := l.SeqAtOffset(second.Offset, false); got != 3 {
			t.Fatalf("SeqAtOffset exclusive = %d", got)
		}
		l.Close()
		if _, err := l.Append(1, func(int, Meta, []byte) ([]byte, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after close: %v", err)
		}
	}
}

func TestReopenContinues(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(Options{Dir: dir, SegmentBytes: 100})
	for i := 0; i < 20; i++ {
		appendN(t, l, fmt.Sprintf("event-%02d", i))
	}
	before := readAll(t, l)
	l.Close()
	if n := len(segments(t, dir)); n < 3 {
		t.Fatalf("%d segments with a 100-byte limit, want several", n)
	}
	l, err := Open(Options{Dir: dir, SegmentBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	after := readAll(t, l)
	if bodies(after) != bodies(before) || after[19].Offset != before[19].Offset {
		t.Fatalf("after reopen: %s, want %s", bodies(after), bodies(before))
	}
	if m := appendN(t, l, "next"); m.SequenceNumber != 20 || m.Offset <= before[19].Offset {
		t.Fatalf("append after reopen: %+v", m)
	}
}

func segments(t testing.TB, dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTornTail(t *testing.T) {
	damage := map[string]func(path string, size int64){
		"garbage appended": func(p string, _ int64) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{0, 0, 0, 9, 1, 2})
			f.Close()
		},
		"last record cut short": func(p string, size int64) { os.Truncate(p, size-3) },
		"last payload flipped": func(p string, size int64) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			b := make([]byte, 1)
			f.ReadAt(b, size-1)
			b[0] ^= 0xff
			f.WriteAt(b, size-1)
			f.Close()
		},
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := Open(Options{Dir: dir})
			appendN(t, l, "one", "two")
			appendN(t, l, "three")
			l.Close()
			segs := segments(t, dir)
			st, _ := os.Stat(segs[0])
			hurt(segs[0], st.Size())
			l, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("open after %s: %v", name, err)
			}
			defer l.Close()
			got := bodies(readAll(t, l))
			want := "0:one 1:two 2:three "
			if name != "garbage appended" {
				want = "0:one 1:two "
			}
			if got != want {
				t.Fatalf("after %s: %q, want %q", name, got, want)
			}
			_, next := l.Bounds()
			if m := appendN(t, l, "again"); m.SequenceNumber != next {
				t.Fatalf("next append got %d, want %d", m.SequenceNumber, next)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	l, _ := Open(Options{Dir: dir, Retention: 10 * time.Second, SegmentBytes: 64, Now: clock})
	defer l.Close()
	for i := 0; i < 5; i++ {
		appendN(t, l, fmt.Sprintf("old-%d-padding-padding", i))
	}
	now = now.Add(20 * time.Second)
	appendN(t, l, "new")
	segsBefore := len(segments(t, dir))
	if err := l.Expire(now); err != nil {
		t.Fatal(err)
	}
	begin, next := l.Bounds()
	if begin != 5 || next != 6 {
		t.Fatalf("bounds after expiry %d..%d, want 5..6", begin, next)
	}
	if len(segments(t, dir)) >= segsBefore {
		t.Fatalf("no segment deleted: %d before, %d after", segsBefore, len(segments(t, dir)))
	}
	if _, err := l.Read(nil, 2, 1, 1<<20); !errors.Is(err, ErrExpired) {
		t.Fatalf("read below begin: %v", err)
	}
	if got := l.SeqAtTime(time.Unix(0, 0)); got != 5 {
		t.Fatalf("SeqAtTime before everything = %d, want the first available 5", got)
	}
	if last, ok := l.Last(); !ok || last.SequenceNumber != 5 {
		t.Fatalf("Last = %+v %v", last, ok)
	}
	// Numbering survives a restart even when old segments are gone.
	l.Close()
	l2, err := Open(Options{Dir: dir, Retention: 10 * time.Second, SegmentBytes: 64, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if m := appendN(t, l2, "after"); m.SequenceNumber != 6 {
		t.Fatalf("after restart: sequence number %d, want 6", m.SequenceNumber)
	}
}

func TestGroupCommit(t *testing.T) {
	l, _ := Open(Options{Dir: t.TempDir()})
	defer l.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				appendN(t, l, fmt.Sprintf("g%d-%d", g, i))
			}
		}(g)
	}
	wg.Wait()
	recs := readAll(t, l)
	if len(recs) != 800 {
		t.Fatalf("%d records, want 800", len(recs))
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if r.SequenceNumber != int64(i) || seen[string(r.Payload)] {
			t.Fatalf("record %d: %d %q", i, r.SequenceNumber, r.Payload)
		}
		seen[string(r.Payload)] = true
	}
	l.mu.RLock()
	syncs := l.syncs
	l.mu.RUnlock()
	if syncs >= 800 {
		t.Fatalf("%d fsyncs for 800 appends: no group commit", syncs)
	}
	t.Logf("800 appends from 8 goroutines took %d fsyncs", syncs)
}

func TestChangedFires(t *testing.T) {
	l, _ := Open(Options{})
	ch := l.Changed()
	appendN(t, l, "x")
	select {
	case <-ch:
	default:
		t.Fatal("Changed did not fire after a durable append")
	}
}

func BenchmarkAppend100x100(b *testing.B) {
	l, _ := Open(Options{Dir: b.TempDir()})
	defer l.Close()
	body := bytes.Repeat([]byte("x"), 100)
	b.SetBytes(100 * 100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(100, func(_ int, _ Meta, dst []byte) ([]byte, error) { return append(dst, body...), nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead300(b *testing.B) {
	l, _ := Open(Options{Dir: b.TempDir()})
	defer l.Close()
	body := bytes.Repeat([]byte("x"), 100)
	for i := 0; i < 100; i++ {
		l.Append(300, func(_ int, _ Meta, dst []byte) ([]byte, error) { return append(dst, body...), nil })
	}
	var recs []Record
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, _ = l.Read(recs[:0], int64(i%100)*300, 300, 1<<20)
	}
	b.ReportMetric(float64(b.N*300)/b.Elapsed().Seconds(), "events/s")
}

// FuzzRecover: any bytes as a segment file open without a panic, and every
// record read back has a valid checksum (Open verified it) and contiguous
// sequence numbers.
func FuzzRecover(f *testing.F) {
	dir := f.TempDir()
	l, _ := Open(Options{Dir: dir})
	appendN(f, l, "one", "two", "three")
	l.Close()
	seed, _ := os.ReadFile(segments(f, dir)[0])
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segmentName(0)), data, 0o644)
		l, err := Open(Options{Dir: dir})
		if err != nil {
			return
		}
		defer l.Close()
		recs := readAll(t, l)
		for i := 1; i < len(recs); i++ {
			if recs[i].SequenceNumber != recs[i-1].SequenceNumber+1 {
				t.Fatalf("sequence numbers %d then %d", recs[i-1].SequenceNumber, recs[i].SequenceNumber)
			}
		}
	})
}

// TestCrashKeepsAcknowledgedAppends: whatever a crash does to the writes
// that were not yet synced, every append that returned is there after it.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 50; round++ {
		fs := newCrashFS()
		l, err := Open(Options{Dir: "/p", fs: fs})
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		for i := 0; i < 5; i++ {
			m := appendN(t, l, fmt.Sprintf("e%d", i))
			want += fmt.Sprintf("%d:e%d ", m.SequenceNumber, i)
		}
		// An append the crash interrupts after a random number of disk
		// operations: it may or may not survive, but it never damages what
		// came before.
		fs.dieAfter(rng.Intn(3))
		l.Append(1, func(_ int, _ Meta, dst []byte) ([]byte, error) { return append(dst, "lost?"...), nil })
		fs.crash(rng, crashKind(rng.Intn(int(crashKinds))))
		l, err = Open(Options{Dir: "/p", fs: fs})
		if err != nil {
			t.Fatalf("round %d: open after crash: %v\n%s", round, err, fs)
		}
		if got := bodies(readAll(t, l)); got != want && got != want+"5:lost? " {
			t.Fatalf("round %d: after crash %q, want %q", round, got, want)
		}
		l.Close()
	}
}

// TestNumberingSurvivesCrashAndRetention: a crash at any point of a
// segment roll, then retention removing every event, never lets a sequence
// number be given out twice, and the last enqueued event is still known.
func TestNumberingSurvivesCrashAndRetention(t *testing.T) {
	for stopAfter := 0; stopAfter < 12; stopAfter++ {
		t.Run(fmt.Sprint("disk stops after ", stopAfter, " operations"), func(t *testing.T) {
			fs := newCrashFS()
			now := time.Unix(1_700_000_000, 0)
			opts := Options{Dir: "/p", SegmentBytes: 64, Now: func() time.Time { return now }, fs: fs}
			l, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			const body = "0123456789012345678901234567890123456789" // 64 bytes with its header: every append rolls
			appendN(t, l, body)
			last := appendN(t, l, body)
			fs.dieAfter(stopAfter)
			if m, err := l.Append(1, func(_ int, _ Meta, dst []byte) ([]byte, error) { return append(dst, body...), nil }); err == nil {
				last = m
			}
			fs.crash(nil, powerCut)

			now = now.Add(2 * time.Hour)
			opts.Retention = time.Hour
			for reopen := 0; reopen < 2; reopen++ {
				if l, err = Open(opts); err != nil {
					t.Fatalf("open after crash and retention: %v\n%s", err, fs)
				}
				begin, next := l.Bounds()
				if begin != next || next != last.SequenceNumber+1 {
					t.Fatalf("reopen %d: bounds %d..%d, want all expired and next %d\n%s", reopen, begin, next, last.SequenceNumber+1, fs)
				}
				if got, ok := l.Last(); !ok || got != last {
					t.Fatalf("reopen %d: Last() = %+v %v, want %+v", reopen, got, ok, last)
				}
				l.Close()
			}
			l, _ = Open(opts)
			defer l.Close()
			if m := appendN(t, l, "new"); m.SequenceNumber != last.SequenceNumber+1 || m.Offset <= last.Offset {
				t.Fatalf("new event %+v after the last acknowledged %+v", m, last)
			}
		})
	}
}

// TestEmptyNewestSegmentKeepsNumbering: a crash right after a segment roll
// can leave the newest segment file empty. Once retention removed every
// older segment, the log must still continue its numbering.
func TestEmptyNewestSegmentKeepsNumbering(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_700_000_000, 0)
	opts := Options{Dir: dir, SegmentBytes: 64, Now: func() time.Time { return now }}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		appendN(t, l, "0123456789012345678901234567890123456789") // every append after the first rolls
	}
	l.Close()
	segs := segments(t, dir)
	if err := os.Truncate(segs[len(segs)-1], 0); err != nil {
		t.Fatal(err)
	}
	for _, retention := range []time.Duration{0, time.Hour, time.Hour} {
		opts.Retention = retention
		now = now.Add(2 * time.Hour)
		if l, err = Open(opts); err != nil {
			t.Fatalf("open with retention %s: %v", retention, err)
		}
		if _, next := l.Bounds(); next != 2 {
			t.Fatalf("retention %s: next sequence number %d, want 2 (0 and 1 were acknowledged)", retention, next)
		}
		l.Close()
	}
	l, _ = Open(opts)
	defer l.Close()
	if m := appendN(t, l, "new"); m.SequenceNumber != 2 {
		t.Fatalf("new event got sequence number %d, want 2", m.SequenceNumber)
	}
}

// TestSegmentsWithoutHeaders: segments written before segments had
// headers open as they are, and the log goes on from them.
func TestSegmentsWithoutHeaders(t *testing.T) {
	dir := t.TempDir()
	var seg []byte
	var offsets []int64
	for i, body := range []string{"a", "bb", "ccc"} {
		offsets = append(offsets, 1000+int64(len(seg)))
		rec := append(make([]byte, headerSize), body...)
		putHeader(rec, int64(7+i), 1_700_000_000_000)
		seg = append(seg, rec...)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(1000)), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Dir: dir, SegmentBytes: 64}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(readAll(t, l)); got != "7:a 8:bb 9:ccc " {
		t.Fatalf("old segment read as %q", got)
	}
	if last, _ := l.Last(); last.Offset != offsets[2] {
		t.Fatalf("last offset %d, want %d", last.Offset, offsets[2])
	}
	m := appendN(t, l, "dddd") // rolls: the old segment is full
	if m.SequenceNumber != 10 || m.Offset != 1000+int64(len(seg)) {
		t.Fatalf("append after old segment: %+v", m)
	}
	l.Close()
	if l, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := bodies(readAll(t, l)); got != "7:a 8:bb 9:ccc 10:dddd " {
		t.Fatalf("after reopen %q", got)
	}
}

// TestDamageBeforeTheTailIsReported: a bad record in a segment other than
// the last, or a missing segment, is not a torn tail. Open fails, names the
// file and the byte, and leaves every file as it was.
func TestDamageBeforeTheTailIsReported(t *testing.T) {
	damage := map[string]func(t *testing.T, segs []string) (file string, offset int64){
		"bad record in a middle segment": func(t *testing.T, segs []string) (string, int64) {
			f, err := os.OpenFile(segs[1], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// The second record's payload: the header, one record, its header.
			at := int64(segHeaderSize + headerSize + len("event-00") + headerSize + 2)
			f.WriteAt([]byte{'#'}, at)
			return segs[1], segHeaderSize + headerSize + int64(len("event-00"))
		},
		"missing middle segment": func(t *testing.T, segs []string) (string, int64) {
			os.Remove(segs[1])
			return segs[2], 0
		},
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := Open(Options{Dir: dir, SegmentBytes: 100})
			for i := 0; i < 12; i++ {
				appendN(t, l, fmt.Sprintf("event-%02d", i))
			}
			l.Close()
			file, offset := hurt(t, segments(t, dir))
			before := dirListing(t, dir)
			_, err := Open(Options{Dir: dir, SegmentBytes: 100})
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != file || ce.Offset != offset {
				t.Fatalf("open: %v, want a CorruptError for %s at byte %d", err, file, offset)
			}
			if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), fmt.Sprint("byte ", offset)) {
				t.Fatalf("error %q does not name the file and the byte", err)
			}
			if after := dirListing(t, dir); after != before {
				t.Fatalf("a failed open changed the files:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// dirListing describes every file in dir with its size.
func dirListing(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s:%d ", strings.TrimPrefix(p, dir), st.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRepairMovesDamageAside: with Repair, a damaged log opens; the
// damaged segment and the older ones move to damaged/ unchanged, the log
// starts after them and numbering goes on.
func TestRepairMovesDamageAside(t *testing.T) {
	// 12 events of 32 bytes with 100-byte segments: 4 per segment, so
	// segments 0, 1 and 2 start at sequence numbers 0, 4 and 8.
	damage := map[string]struct {
		hurt  func(segs []string)
		begin int64
	}{
		"bad record in a middle segment": {func(segs []string) { flipByte(t, segs[1], segHeaderSize+headerSize+8+headerSize+2) }, 8},
		"missing middle segment":         {func(segs []string) { os.Rename(segs[1], segs[1]+".away") }, 8},
		"bad header of the last segment": {func(segs []string) { flipByte(t, segs[2], 20) }, 12},
	}
	for name, d := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: 100}
			l, _ := Open(opts)
			var want []string
			for i := 0; i < 12; i++ {
				m := appendN(t, l, fmt.Sprintf("event-%02d", i))
				want = append(want, fmt.Sprintf("%d:event-%02d ", m.SequenceNumber, i))
			}
			last, _ := l.Last()
			l.Close()
			d.hurt(segments(t, dir))
			before := fileContents(t, dir)
			if _, err := Open(opts); err == nil {
				t.Fatal("a damaged log opened without Repair")
			}
			opts.Repair = true
			if l, err := Open(opts); err != nil {
				t.Fatalf("open with Repair: %v", err)
			} else {
				if begin, next := l.Bounds(); begin != d.begin || next != 12 {
					t.Fatalf("bounds after repair %d..%d, want %d..12", begin, next, d.begin)
				}
				if got := bodies(readAll(t, l)); got != strings.Join(want[d.begin:], "") {
					t.Fatalf("after repair %q, want %q", got, strings.Join(want[d.begin:], ""))
				}
				if m := appendN(t, l, "after"); m.SequenceNumber != 12 || m.Offset <= last.Offset {
					t.Fatalf("append after repair: %+v, last before %+v", m, last)
				}
				l.Close()
			}
			after := fileContents(t, dir)
			for path, content := range before {
				moved := filepath.Join(DamagedDir, filepath.Base(path))
				if after[path] != content && after[moved] != content {
					t.Errorf("%s is neither in place nor in %s with the same content", path, DamagedDir)
				}
			}
			opts.Repair = false
			if l, err := Open(opts); err != nil {
				t.Fatalf("open after repair without Repair: %v", err)
			} else {
				l.Close()
			}
		})
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// fileContents maps every file under dir, by path relative to dir, to its
// content.
func fileContents(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRetentionRemovalsAreDurable: the segments retention deletes stay
// deleted after a crash; a deletion the disk forgot would bring old files
// back in front of the log.
func TestRetentionRemovalsAreDurable(t *testing.T) {
	fs := newCrashFS()
	now := time.Unix(1_700_000_000, 0)
	l, err := Open(Options{Dir: "/p", SegmentBytes: 100, Retention: time.Minute, Now: func() time.Time { return now }, fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 12; i++ {
		appendN(t, l, fmt.Sprintf("event-%02d", i))
	}
	now = now.Add(time.Hour)
	appendN(t, l, "fresh")
	if err := l.Expire(now); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Files("/p")
	if durable := fs.durableFiles("/p"); fmt.Sprint(durable) != fmt.Sprint(files) || len(files) != 1 {
		t.Fatalf("after retention the directory holds %v, a crash would leave %v; want the active segment only", files, durable)
	}
}

func TestOnSyncAndSize(t *testing.T) {
	// On disk: every fsync of a segment file is reported, and Size is the
	// segment files' sizes.
	dir := t.TempDir()
	var mu sync.Mutex
	var syncs []time.Duration
	l, err := Open(Options{Dir: dir, OnSync: func(d time.Duration) {
		mu.Lock()
		syncs = append(syncs, d)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mu.Lock()
	atOpen := len(syncs) // the new segment's header
	mu.Unlock()
	if atOpen == 0 {
		t.Fatal("opening a new log synced its first segment's header, but OnSync heard nothing")
	}
	appendN(t, l, "a", "bb")
	appendN(t, l, "ccc")
	mu.Lock()
	got := len(syncs) - atOpen
	for _, d := range syncs {
		if d < 0 {
			t.Errorf("a negative fsync duration %v", d)
		}
	}
	mu.Unlock()
	if got != 2 {
		t.Fatalf("two appends, one after the other: OnSync heard %d fsyncs, want 2", got)
	}
	wantSize := int64(segHeaderSize + 3*headerSize + len("a"+"bb"+"ccc"))
	if n := l.Size(); n != wantSize {
		t.Fatalf("Size on disk: %d, want %d", n, wantSize)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(files) != 1 {
		t.Fatalf("segment files: %v %v", files, err)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() != wantSize {
		t.Fatalf("the segment file: %v %v, want %d bytes", fi, err, wantSize)
	}

	// In memory: no fsync, and Size is what is still available.
	now := time.Unix(1000, 0)
	m, err := Open(Options{Retention: time.Minute, Now: func() time.Time { return now },
		OnSync: func(time.Duration) { t.Error("OnSync called for a log in memory") }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := m.Size(); n != 0 {
		t.Fatalf("empty log in memory: Size %d", n)
	}
	appendN(t, m, "a", "bb")
	now = now.Add(2 * time.Minute)
	appendN(t, m, "ccc")
	if n := m.Size(); n != int64(3*headerSize+6) {
		t.Fatalf("Size in memory before retention: %d, want %d", n, 3*headerSize+6)
	}
	if err := m.Expire(now); err != nil {
		t.Fatal(err)
	}
	if n := m.Size(); n != int64(headerSize+3) {
		t.Fatalf("Size in memory after retention: %d, want %d", n, headerSize+3)
	}
}
