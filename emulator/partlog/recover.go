package partlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxRecordSize bounds a record's payload: a larger length field is damage.
const maxRecordSize = 64 << 20

func putHeader(h []byte, seq int64, ms int64) {
	binary.BigEndian.PutUint32(h[0:4], uint32(len(h)-headerSize))
	binary.BigEndian.PutUint64(h[8:16], uint64(seq))
	binary.BigEndian.PutUint64(h[16:24], uint64(ms))
	binary.BigEndian.PutUint32(h[4:8], crc32.Checksum(h[8:], castagnoli))
}

const segHeaderSize = 48

// segMagic starts every segment with a header. Its first byte is above any
// first byte of an old segment, which starts with a record length of at
// most maxRecordSize.
var segMagic = [8]byte{'E', 'H', 'S', 'E', 'G', 'v', '0', '1'}

// segHeader is what a segment records about the log when it is created.
type segHeader struct {
	base     int64
	firstSeq int64
	prevOff  int64 // -1: no record before the segment
	prevTime int64
}

func (h segHeader) bytes() []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic[:])
	binary.BigEndian.PutUint64(b[8:], uint64(h.base))
	binary.BigEndian.PutUint64(b[16:], uint64(h.firstSeq))
	binary.BigEndian.PutUint64(b[24:], uint64(h.prevOff))
	binary.BigEndian.PutUint64(b[32:], uint64(h.prevTime))
	binary.BigEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	return b
}

func parseSegHeader(b []byte) (segHeader, bool) {
	if len(b) < segHeaderSize || !bytes.Equal(b[:8], segMagic[:]) ||
		binary.BigEndian.Uint32(b[40:]) != crc32.Checksum(b[:40], castagnoli) {
		return segHeader{}, false
	}
	return segHeader{
		base:     int64(binary.BigEndian.Uint64(b[8:])),
		firstSeq: int64(binary.BigEndian.Uint64(b[16:])),
		prevOff:  int64(binary.BigEndian.Uint64(b[24:])),
		prevTime: int64(binary.BigEndian.Uint64(b[32:])),
	}, true
}

func segmentName(base int64) string { return fmt.Sprintf("%020d.seg", base) }

// newSegmentLocked starts a segment at the end of the log; mu held (or,
// in Open, the log not yet shared).
func (l *Log) newSegmentLocked() (*segment, error) {
	h := segHeader{base: l.end, firstSeq: l.written, prevOff: l.lastOff, prevTime: l.lastTime}
	f, err := l.opts.fs.OpenFile(filepath.Join(l.opts.Dir, segmentName(h.base)), os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	// The header is durable before the directory entry: an entry without
	// it could not say where numbering stands.
	if err := l.writeSegHeader(f, h); err != nil {
		f.Close()
		return nil, err
	}
	s := &segment{base: h.base, firstSeq: h.firstSeq, f: f, hdr: segHeaderSize}
	l.segs = append(l.segs, s)
	return s, nil
}

func (l *Log) writeSegHeader(f file, h segHeader) error {
	if _, err := f.WriteAt(h.bytes(), 0); err != nil {
		return err
	}
	if err := f.Truncate(segHeaderSize); err != nil {
		return err
	}
	if err := l.syncFile(f); err != nil {
		return err
	}
	return l.opts.fs.SyncDir(l.opts.Dir)
}

// CorruptError reports damage that a crash cannot explain: anything wrong
// before the tail of the last segment. The log refuses to open rather than
// drop events that were acknowledged.
type CorruptError struct {
	Path   string
	Offset int64 // byte offset in the file
	Reason string
	// missing: the file itself is sound, but files before it are missing;
	// a repair moves aside only the files before it.
	missing bool
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("partlog: %s is damaged at byte %d: %s", e.Path, e.Offset, e.Reason)
}

// followingSeq is one past the highest sequence number in the readable
// records at the start of a damaged segment, whatever its header says.
func followingSeq(f file) int64 {
	var hdr int64
	if b := make([]byte, len(segMagic)); readFull(f, b, 0) == nil && bytes.Equal(b, segMagic[:]) {
		hdr = segHeaderSize
	}
	next := int64(0)
	var h [headerSize]byte
	for pos := hdr; readFull(f, h[:], pos) == nil; {
		n := binary.BigEndian.Uint32(h[0:4])
		payload := make([]byte, min(n, maxRecordSize+1))
		if n > maxRecordSize || readFull(f, payload, pos+headerSize) != nil ||
			crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, payload) != binary.BigEndian.Uint32(h[4:8]) {
			break
		}
		next = max(next, int64(binary.BigEndian.Uint64(h[8:16]))+1)
		pos += headerSize + int64(n)
	}
	return next
}

// readFull reads exactly len(b) bytes at off.
func readFull(f file, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil // io.ReaderAt may report io.EOF along with the last byte
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// DamagedDir is where a repair moves segments, inside the partition's
// directory.
const DamagedDir = "damaged"

// recover rebuilds the index from the segment files. A crash can only
// leave unacknowledged bytes at the end of the last segment, so a bad
// record there is a torn tail and is cut; damage anywhere else is a
// CorruptError, or with Repair, moved aside.
func (l *Log) recover() error {
	if err := l.opts.fs.MkdirAll(l.opts.Dir); err != nil {
		return fmt.Errorf("partlog: %w", err)
	}
	l.lastOff = -1
	for {
		bases, err := l.segmentBases()
		if err != nil {
			return err
		}
		i, err := l.recoverFiles(bases)
		var ce *CorruptError
		if !l.opts.Repair || !errors.As(err, &ce) {
			return err
		}
		if !ce.missing {
			i++
		}
		if err := l.moveAside(bases[:i], ce); err != nil {
			return err
		}
	}
}

func (l *Log) segmentBases() ([]int64, error) {
	names, err := l.opts.fs.Files(l.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("partlog: %w", err)
	}
	var bases []int64
	for _, name := range names {
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil || base < 0 || segmentName(base) != name {
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// recoverFiles reads the segments into the index. On failure it returns
// the index of the segment at fault.
func (l *Log) recoverFiles(bases []int64) (int, error) {
	for i, base := range bases {
		f, err := l.opts.fs.OpenFile(filepath.Join(l.opts.Dir, segmentName(base)), os.O_RDWR)
		if err != nil {
			return i, fmt.Errorf("partlog: %w", err)
		}
		s := &segment{base: base, f: f}
		l.segs = append(l.segs, s)
		if err := l.recoverSegment(s, i == len(bases)-1); err != nil {
			return i, err
		}
	}
	if len(l.segs) == 0 {
		if _, err := l.newSegmentLocked(); err != nil {
			return 0, fmt.Errorf("partlog: %w", err)
		}
	} else {
		// A process that died left its last writes and directory changes in
		// the page cache, unsynced; once a reader or an append relies on
		// them, a power cut must not take them back.
		if err := l.syncFile(l.segs[len(l.segs)-1].f); err != nil {
			return 0, fmt.Errorf("partlog: %w", err)
		}
		if err := l.opts.fs.SyncDir(l.opts.Dir); err != nil {
			return 0, fmt.Errorf("partlog: %w", err)
		}
	}
	l.next = l.written
	l.firstSeq = l.segs[0].firstSeq
	l.begin = l.firstSeq
	if l.lastOff >= 0 {
		l.last = Meta{SequenceNumber: l.written - 1, Offset: l.lastOff, EnqueuedTime: time.UnixMilli(l.lastTime).UTC()}
		l.hasLast = true
	}
	return 0, nil
}

// moveAside moves the segments with the given bases into DamagedDir and
// forgets what was read, keeping only where numbering and offsets stand so
// that the log after them goes on from there.
func (l *Log) moveAside(bases []int64, ce *CorruptError) error {
	fs, dir := l.opts.fs, l.opts.Dir
	for _, s := range l.segs {
		if size, err := s.f.Size(); err == nil {
			l.end = max(l.end, s.base+size)
		}
		l.written = max(l.written, followingSeq(s.f))
		s.f.Close()
	}
	l.segs, l.offsets, l.times = nil, nil, nil

	to := filepath.Join(dir, DamagedDir)
	if err := fs.MkdirAll(to); err != nil {
		return fmt.Errorf("partlog: repair: %w", err)
	}
	taken, err := fs.Files(to)
	if err != nil {
		return fmt.Errorf("partlog: repair: %w", err)
	}
	var moved []string
	for _, base := range bases {
		name := segmentName(base)
		dest := name
		for k := 1; slices.Contains(taken, dest); k++ {
			dest = fmt.Sprintf("%s.%d", name, k)
		}
		taken = append(taken, dest)
		if err := fs.Rename(filepath.Join(dir, name), filepath.Join(to, dest)); err != nil {
			return fmt.Errorf("partlog: repair: %w", err)
		}
		// The new entry is durable before the old one is gone.
		if err := fs.SyncDir(to); err != nil {
			return fmt.Errorf("partlog: repair: %w", err)
		}
		if err := fs.SyncDir(dir); err != nil {
			return fmt.Errorf("partlog: repair: %w", err)
		}
		moved = append(moved, dest)
	}
	l.opts.Logger.Warn("partition log damaged: moved segments aside", "dir", dir, "damage", ce.Error(), "moved_to", to, "files", moved)
	return nil
}

// recoverSegment reads one segment into the index; s is the last of
// l.segs, and last says whether it is the last file of the log.
func (l *Log) recoverSegment(s *segment, last bool) error {
	size, err := s.f.Size()
	if err != nil {
		return fmt.Errorf("partlog: %w", err)
	}
	head := make([]byte, min(size, segHeaderSize))
	if err := readFull(s.f, head, 0); err != nil {
		return fmt.Errorf("partlog: reading %s: %w", s.f.Name(), err)
	}
	if scan, err := l.recoverHeader(s, head, size, last); !scan || err != nil {
		return err
	}
	good, reason, err := l.scan(s, size)
	if err != nil {
		return err
	}
	s.size = good
	if reason == "" {
		return nil
	}
	if !last {
		return &CorruptError{Path: s.f.Name(), Offset: s.hdr + good, Reason: reason}
	}
	return l.cutTornTail(s, good, reason)
}

// recoverHeader places a segment in the log by its header (head is its
// first bytes, size its length): where it starts must be where the log
// before it ends. scan says whether it has records to read; one whose
// creation a crash interrupted has none, and gets its header now.
func (l *Log) recoverHeader(s *segment, head []byte, size int64, last bool) (scan bool, err error) {
	first := len(l.segs) == 1
	n := min(len(head), len(segMagic))
	h, hasHeader := parseSegHeader(head)
	switch {
	case size > 0 && !bytes.Equal(head[:n], segMagic[:n]):
		// A segment from before headers: records from byte 0, numbering
		// from its first record.
		if !first && s.base != l.end {
			return false, l.gap(s, s.base, l.written)
		}
		l.end = s.base
		return true, nil
	case hasHeader:
		return true, l.followHeader(s, h, first)
	case size > segHeaderSize:
		return false, &CorruptError{Path: s.f.Name(), Offset: 0, Reason: "the segment header is not valid"}
	}
	// No more than a header's worth of bytes and no valid header: a crash
	// interrupted the segment's creation, before any record. Finish it.
	if !last {
		return false, &CorruptError{Path: s.f.Name(), Offset: 0, Reason: fmt.Sprintf("a segment of %d bytes with no valid header before the last segment", size)}
	}
	if !first && s.base != l.end {
		return false, l.gap(s, s.base, l.written)
	}
	l.end = s.base
	s.hdr, s.firstSeq = segHeaderSize, l.written
	if err := l.writeSegHeader(s.f, segHeader{base: s.base, firstSeq: l.written, prevOff: l.lastOff, prevTime: l.lastTime}); err != nil {
		return false, fmt.Errorf("partlog: completing the header of %s: %w", s.f.Name(), err)
	}
	return false, nil
}

// followHeader takes a valid header: the first segment's says where the
// log starts, any other's must go on where the one before it ended.
func (l *Log) followHeader(s *segment, h segHeader, first bool) error {
	s.hdr = segHeaderSize
	switch {
	case h.base != s.base:
		return &CorruptError{Path: s.f.Name(), Offset: 8, Reason: fmt.Sprintf("its header says it starts at offset %d, its name says %d", h.base, s.base)}
	case first:
		l.end, l.written = h.base, h.firstSeq
		l.lastOff, l.lastTime = h.prevOff, h.prevTime
	case h.base != l.end || h.firstSeq != l.written:
		return l.gap(s, h.base, h.firstSeq)
	}
	s.firstSeq = h.firstSeq
	return nil
}

// cutTornTail drops what follows the good records of the last segment:
// nothing after the last fsync was acknowledged.
func (l *Log) cutTornTail(s *segment, good int64, reason string) error {
	if s.hdr == 0 && good == 0 {
		// An old segment left with no record: give it a header, or numbering
		// would rest on nothing.
		s.hdr, s.firstSeq = segHeaderSize, l.written
		return l.writeSegHeader(s.f, segHeader{base: s.base, firstSeq: l.written, prevOff: l.lastOff, prevTime: l.lastTime})
	}
	if err := s.f.Truncate(s.hdr + good); err != nil {
		return fmt.Errorf("partlog: cutting the torn tail of %s at byte %d: %w", s.f.Name(), s.hdr+good, err)
	}
	l.opts.Logger.Info("partition log: cut a torn tail", "file", s.f.Name(), "at", s.hdr+good, "reason", reason)
	return nil
}

func (l *Log) gap(s *segment, base, firstSeq int64) error {
	return &CorruptError{Path: s.f.Name(), Offset: 0, missing: true, Reason: fmt.Sprintf(
		"it starts at offset %d, sequence number %d, but the log before it ends at offset %d, sequence number %d: segment files are missing",
		base, firstSeq, l.end, l.written)}
}

// scan reads a segment's records into the index. It returns the length of
// the valid records and, if they do not reach the end of the file, why
// the next one is not valid.
func (l *Log) scan(s *segment, size int64) (good int64, reason string, err error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.hdr, 1<<62), int(min(size, 1<<20)))
	var pos int64
	var h [headerSize]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return pos, "", nil
			case errors.Is(err, io.ErrUnexpectedEOF):
				return pos, "a record header cut short", nil
			}
			return 0, "", fmt.Errorf("partlog: reading %s: %w", s.f.Name(), err)
		}
		n := binary.BigEndian.Uint32(h[0:4])
		seq := int64(binary.BigEndian.Uint64(h[8:16]))
		ms := int64(binary.BigEndian.Uint64(h[16:24]))
		if n > maxRecordSize {
			return pos, fmt.Sprintf("a record length of %d bytes, over the limit of %d", n, maxRecordSize), nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return pos, "a record cut short", nil
			}
			return 0, "", fmt.Errorf("partlog: reading %s: %w", s.f.Name(), err)
		}
		crc := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, payload)
		if crc != binary.BigEndian.Uint32(h[4:8]) {
			return pos, "a record whose checksum does not match", nil
		}
		if s.hdr == 0 && len(l.segs) == 1 && pos == 0 {
			// The first record of an old segment fixes where numbering
			// starts: earlier segments may have been removed by retention.
			l.written, s.firstSeq = seq, seq
		}
		if seq != l.written {
			return pos, fmt.Sprintf("sequence number %d where %d was due", seq, l.written), nil
		}
		if ms < l.lastTime {
			return pos, fmt.Sprintf("sequence number %d enqueued at %d ms, before the %d ms of the one before", seq, ms, l.lastTime), nil
		}
		off := s.base + pos
		l.offsets = append(l.offsets, off)
		l.times = append(l.times, ms)
		l.written++
		l.lastOff, l.lastTime = off, ms
		pos += int64(headerSize) + int64(n)
		l.end = s.base + pos
	}
}
