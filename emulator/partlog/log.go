package partlog

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

var (
	ErrExpired    = errors.New("partlog: sequence number expired by retention")
	ErrOutOfRange = errors.New("partlog: sequence number beyond the end of the log")
	ErrClosed     = errors.New("partlog: log closed")
)

const headerSize = 24

var zeroHeader [headerSize]byte

type Options struct {
	Dir          string        // "" keeps the log in memory
	Retention    time.Duration // 0 keeps events forever
	SegmentBytes int64         // 0 means 64 MiB
	Now          func() time.Time
	// Repair opens a damaged log instead of failing with a CorruptError:
	// the damaged segment and every older one move to the subdirectory
	// DamagedDir (nothing is deleted), and the log starts after the damage,
	// as if retention had removed them. Numbering goes on from the highest
	// sequence number found.
	Repair bool
	// Logger hears about torn tails cut and segments moved aside; nil
	// discards.
	Logger *slog.Logger
	// OnSync, when set, is told how long each fsync of a segment file took
	// (the group commit of appends, and the syncs of a new or recovered
	// segment), successful or not. It runs on the appending goroutine, so
	// it must be quick: add to a counter, observe a histogram.
	OnSync func(time.Duration)

	fs fileSystem // nil means the operating system's
}

// Meta is what the log stamps on an event.
type Meta struct {
	SequenceNumber int64
	Offset         int64
	EnqueuedTime   time.Time
}

type Record struct {
	Meta
	Payload []byte
}

type segment struct {
	base     int64 // logical offset of the first record
	firstSeq int64
	f        file
	hdr      int64 // bytes before the first record: segHeaderSize, or 0 in an old segment
	size     int64 // bytes of records
}

type Log struct {
	opts Options

	syncMu   sync.Mutex
	expireMu sync.Mutex // one Expire at a time, so files go oldest first

	mu       sync.RWMutex
	segs     []*segment // disk mode; the last is active
	firstSeq int64      // sequence number of index entry 0
	offsets  []int64
	times    []int64  // enqueued time, Unix ms
	payloads [][]byte // memory mode only
	written  int64    // next sequence number to assign
	end      int64    // logical offset after the last written record
	begin    int64    // first available sequence number
	next     int64    // first sequence number not yet durable
	last     Meta
	hasLast  bool
	lastTime int64 // enqueued time of the last record written, Unix ms
	lastOff  int64 // offset of the last record written; -1 for none
	changed  chan struct{}
	closed   bool
	failed   error
	syncs    int // fsyncs done, to observe group commit in tests
}

func Open(opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.fs == nil {
		opts.fs = osFS{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{opts: opts, changed: make(chan struct{}), lastOff: -1}
	if opts.Dir != "" {
		if err := l.recover(); err != nil {
			l.closeFilesLocked()
			return nil, err
		}
	}
	if err := l.Expire(opts.Now()); err != nil {
		l.closeFilesLocked()
		return nil, err
	}
	return l, nil
}

// Append adds n events as one group and returns once they are durable.
func (l *Log) Append(n int, build func(i int, m Meta, dst []byte) ([]byte, error)) (Meta, error) {
	if n <= 0 {
		return Meta{}, fmt.Errorf("partlog: append of %d events", n)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return Meta{}, ErrClosed
	}
	if l.failed != nil {
		l.mu.Unlock()
		return Meta{}, l.failed
	}
	now := max(l.opts.Now().UnixMilli(), l.lastTime)
	first := Meta{SequenceNumber: l.written, Offset: l.end, EnqueuedTime: time.UnixMilli(now).UTC()}
	buf, starts, err := l.encodeLocked(n, first, build)
	if err != nil {
		l.mu.Unlock()
		return Meta{}, err
	}
	if err := l.writeLocked(buf); err != nil {
		l.failed = fmt.Errorf("partlog: %s: write failed, the log refuses appends: %w", l.opts.Dir, err)
		l.mu.Unlock()
		return Meta{}, l.failed
	}
	l.indexLocked(buf, starts, now)
	target := l.written
	l.mu.Unlock()
	return first, l.syncTo(target)
}

// encodeLocked builds n records after the log's end, the first stamped
// with first, and returns them with where each starts in buf; mu held.
func (l *Log) encodeLocked(n int, first Meta, build func(i int, m Meta, dst []byte) ([]byte, error)) (buf []byte, starts []int, err error) {
	buf = make([]byte, 0, n*(headerSize+128))
	starts = make([]int, n)
	m := first
	for i := 0; i < n; i++ {
		start := len(buf)
		buf = append(buf, zeroHeader[:]...)
		if buf, err = build(i, m, buf); err != nil {
			return nil, nil, err
		}
		if len(buf) < start+headerSize {
			return nil, nil, fmt.Errorf("partlog: build for event %d returned a slice shorter than the dst it was given", i)
		}
		putHeader(buf[start:], m.SequenceNumber, m.EnqueuedTime.UnixMilli())
		starts[i] = start
		m.SequenceNumber++
		m.Offset += int64(len(buf) - start)
	}
	return buf, starts, nil
}

// indexLocked adds the records in buf, written at the log's end, to the
// index; mu held.
func (l *Log) indexLocked(buf []byte, starts []int, now int64) {
	n := len(starts)
	for i, start := range starts {
		endAt := len(buf)
		if i+1 < n {
			endAt = starts[i+1]
		}
		if l.opts.Dir == "" {
			l.payloads = append(l.payloads, buf[start+headerSize:endAt:endAt])
		}
		l.offsets = append(l.offsets, l.end+int64(start))
		l.times = append(l.times, now)
	}
	l.written += int64(n)
	l.lastTime = now
	l.lastOff = l.end + int64(starts[n-1])
	l.end += int64(len(buf))
}

// writeLocked writes buf at the end of the active segment, starting a new
// one when it is full; mu held.
func (l *Log) writeLocked(buf []byte) error {
	if l.opts.Dir == "" {
		return nil
	}
	seg := l.segs[len(l.segs)-1]
	if seg.size >= l.opts.SegmentBytes {
		// The old segment must be durable before the new one can be.
		if err := l.syncFile(seg.f); err != nil {
			return err
		}
		var err error
		if seg, err = l.newSegmentLocked(); err != nil {
			return err
		}
	}
	if _, err := seg.f.WriteAt(buf, seg.hdr+seg.size); err != nil {
		return err
	}
	seg.size += int64(len(buf))
	return nil
}

// syncTo makes every record before target durable and visible. Whoever
// holds syncMu fsyncs for everyone who wrote before the fsync began.
func (l *Log) syncTo(target int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	done, failed := l.next >= target, l.failed
	written := l.written
	var f file
	if len(l.segs) > 0 {
		f = l.segs[len(l.segs)-1].f
	}
	l.mu.RUnlock()
	if done {
		return nil
	}
	if failed != nil {
		return failed
	}
	if f != nil {
		if err := l.syncFile(f); err != nil {
			l.mu.Lock()
			l.failed = fmt.Errorf("partlog: %s: fsync failed, the log refuses appends: %w", l.opts.Dir, err)
			l.mu.Unlock()
			return l.failed
		}
	}
	l.mu.Lock()
	l.syncs++
	l.next = written
	i := written - 1 - l.firstSeq
	l.last = Meta{SequenceNumber: written - 1, Offset: l.offsets[i], EnqueuedTime: time.UnixMilli(l.times[i]).UTC()}
	l.hasLast = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// syncFile fsyncs f and tells Options.OnSync how long it took.
func (l *Log) syncFile(f file) error {
	if l.opts.OnSync == nil {
		return f.Sync()
	}
	began := time.Now()
	err := f.Sync()
	l.opts.OnSync(time.Since(began))
	return err
}

// Size is the bytes the log holds: on disk, the sizes of its segment
// files (headers included, and records that retention expired but whose
// segment is still in use); in memory, the records still available.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.opts.Dir == "" {
		if l.begin >= l.written {
			return 0
		}
		return l.end - l.offsets[l.begin-l.firstSeq]
	}
	var n int64
	for _, s := range l.segs {
		n += s.hdr + s.size
	}
	return n
}

// Bounds returns the first available and the next sequence number.
func (l *Log) Bounds() (begin, next int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.begin, l.next
}

// Last is the newest durable event, even when retention removed it.
func (l *Log) Last() (Meta, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last, l.hasLast
}

// Tail is Bounds and Last read together, so that they describe one moment
// even while events are appended: the last event is then next-1.
func (l *Log) Tail() (begin, next int64, last Meta, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.begin, l.next, l.last, l.hasLast
}

// Changed returns a channel closed when new events become durable.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// Read appends up to max durable records from sequence number from, with
// at most maxBytes of payload (but at least one record), to dst.
func (l *Log) Read(dst []Record, from int64, max int, maxBytes int) ([]Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if from < l.begin {
		return dst, fmt.Errorf("%w: %d is before the first available %d", ErrExpired, from, l.begin)
	}
	if from > l.next {
		return dst, fmt.Errorf("%w: %d is after the next %d", ErrOutOfRange, from, l.next)
	}
	if l.closed {
		return dst, ErrClosed
	}
	stop := min(l.next, from+int64(max))
	if stop <= from {
		return dst, nil
	}
	i0 := from - l.firstSeq
	if l.opts.Dir == "" {
		size := 0
		for s := from; s < stop; s++ {
			p := l.payloads[s-l.firstSeq]
			if s > from && size+len(p) > maxBytes {
				break
			}
			size += len(p)
			dst = append(dst, Record{Meta: l.metaLocked(s), Payload: p})
		}
		return dst, nil
	}
	// One ReadAt for a run of records within one segment.
	seg := l.segmentOfLocked(from)
	segEnd := l.end
	if k := sort.Search(len(l.segs), func(k int) bool { return l.segs[k].firstSeq > from }); k < len(l.segs) {
		segEnd = l.segs[k].base
	}
	startOff := l.offsets[i0]
	endOff := startOff
	for s := from; s < stop; s++ {
		e := l.endOfLocked(s)
		if e > segEnd || (s > from && int(e-startOff) > maxBytes) {
			break
		}
		endOff = e
	}
	buf := make([]byte, endOff-startOff)
	if _, err := seg.f.ReadAt(buf, seg.hdr+startOff-seg.base); err != nil {
		return dst, fmt.Errorf("partlog: read %s at %d: %w", seg.f.Name(), seg.hdr+startOff-seg.base, err)
	}
	for s := from; len(buf) > 0; s++ {
		n := int(l.endOfLocked(s) - l.offsets[s-l.firstSeq])
		dst = append(dst, Record{Meta: l.metaLocked(s), Payload: buf[headerSize:n:n]})
		buf = buf[n:]
	}
	return dst, nil
}

func (l *Log) metaLocked(s int64) Meta {
	i := s - l.firstSeq
	return Meta{SequenceNumber: s, Offset: l.offsets[i], EnqueuedTime: time.UnixMilli(l.times[i]).UTC()}
}

func (l *Log) endOfLocked(s int64) int64 {
	i := s - l.firstSeq
	if i+1 < int64(len(l.offsets)) {
		return l.offsets[i+1]
	}
	return l.end
}

func (l *Log) segmentOfLocked(seq int64) *segment {
	k := sort.Search(len(l.segs), func(k int) bool { return l.segs[k].firstSeq > seq })
	return l.segs[k-1]
}

// SeqAtOffset is the first durable event at (inclusive) or after offset.
func (l *Log) SeqAtOffset(offset int64, inclusive bool) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	lo, hi := l.begin-l.firstSeq, l.next-l.firstSeq
	i := lo + int64(sort.Search(int(hi-lo), func(k int) bool {
		o := l.offsets[lo+int64(k)]
		return o > offset || (inclusive && o == offset)
	}))
	return i + l.firstSeq
}

// SeqAtTime is the first available event enqueued strictly after t.
func (l *Log) SeqAtTime(t time.Time) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ms := t.UnixMilli()
	lo, hi := l.begin-l.firstSeq, l.next-l.firstSeq
	i := lo + int64(sort.Search(int(hi-lo), func(k int) bool { return l.times[lo+int64(k)] > ms }))
	return i + l.firstSeq
}

// Expire drops events older than the retention: begin moves past them, and
// segment files holding only expired events are deleted (never the active
// one, whose header keeps numbering when every event has expired).
func (l *Log) Expire(now time.Time) error {
	if l.opts.Retention <= 0 {
		return nil
	}
	cutoff := now.Add(-l.opts.Retention).UnixMilli()
	l.expireMu.Lock()
	defer l.expireMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	lo, hi := l.begin-l.firstSeq, l.next-l.firstSeq
	k := lo + int64(sort.Search(int(hi-lo), func(k int) bool { return l.times[lo+int64(k)] >= cutoff }))
	if k == lo {
		l.mu.Unlock()
		return nil
	}
	l.begin = k + l.firstSeq
	var doomed []string
	for len(l.segs) > 1 && l.segs[1].firstSeq <= l.begin {
		s := l.segs[0]
		s.f.Close()
		doomed = append(doomed, s.f.Name())
		l.segs = l.segs[1:]
	}
	// Drop the expired part of the index (half at a time, so trimming stays
	// amortised), keeping the entries the active records need.
	if drop := l.begin - l.firstSeq; drop > 1024 && drop > int64(len(l.offsets))/2 {
		l.offsets = append([]int64(nil), l.offsets[drop:]...)
		l.times = append([]int64(nil), l.times[drop:]...)
		if l.payloads != nil {
			l.payloads = append([][]byte(nil), l.payloads[drop:]...)
		}
		l.firstSeq = l.begin
	} else if l.payloads != nil {
		for i := lo; i < k; i++ {
			l.payloads[i] = nil
		}
	}
	l.mu.Unlock()
	return l.removeSegments(doomed)
}

// removeSegments deletes segment files oldest first and syncs the
// directory after each: whatever a crash keeps, the files left are still
// one run without a gap. It stops at the first failure for the same
// reason; the next open finds the rest and expires them again.
func (l *Log) removeSegments(paths []string) error {
	for _, p := range paths {
		if err := l.opts.fs.Remove(p); err != nil {
			return fmt.Errorf("partlog: retention: %w", err)
		}
		if err := l.opts.fs.SyncDir(l.opts.Dir); err != nil {
			return fmt.Errorf("partlog: retention: after removing %s: %w", p, err)
		}
	}
	return nil
}

func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
	return l.closeFilesLocked()
}

// closeFilesLocked closes the segment files; mu held (or, in Open, the log
// not yet shared).
func (l *Log) closeFilesLocked() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	return errors.Join(errs...)
}
