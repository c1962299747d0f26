package partlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func putHeader(h []byte, seq int64, ms int64) {
	binary.BigEndian.PutUint32(h[0:4], uint32(len(h)-headerSize))
	binary.BigEndian.PutUint64(h[8:16], uint64(seq))
	binary.BigEndian.PutUint64(h[16:24], uint64(ms))
	binary.BigEndian.PutUint32(h[4:8], crc32.Checksum(h[8:], castagnoli))
}

func segmentName(base int64) string { return fmt.Sprintf("%020d.seg", base) }

func (l *Log) newSegment(base, firstSeq int64) (*segment, error) {
	path := filepath.Join(l.opts.Dir, segmentName(base))
	f, err := l.opts.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	if err := l.opts.fs.SyncDir(l.opts.Dir); err != nil {
		f.Close()
		return nil, err
	}
	s := &segment{base: base, firstSeq: firstSeq, f: f}
	l.segs = append(l.segs, s)
	return s, nil
}

// recover rebuilds the index from the segment files and cuts off a torn or
// corrupt tail: everything after the first bad record is removed.
func (l *Log) recover() error {
	if err := l.opts.fs.MkdirAll(l.opts.Dir); err != nil {
		return fmt.Errorf("partlog: %w", err)
	}
	names, err := l.opts.fs.Files(l.opts.Dir)
	if err != nil {
		return fmt.Errorf("partlog: %w", err)
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
	torn := false
	for _, base := range bases {
		path := filepath.Join(l.opts.Dir, segmentName(base))
		if torn || (len(l.segs) > 0 && base != l.end) {
			// After a bad record, or a segment that does not continue the
			// log: nothing here was acknowledged after what came before.
			torn = true
			if err := l.opts.fs.Remove(path); err != nil {
				return fmt.Errorf("partlog: removing %s after a torn tail: %w", path, err)
			}
			continue
		}
		f, err := l.opts.fs.OpenFile(path, os.O_RDWR)
		if err != nil {
			return fmt.Errorf("partlog: %w", err)
		}
		if len(l.segs) == 0 {
			l.end = base
		}
		s := &segment{base: base, firstSeq: l.written, f: f}
		l.segs = append(l.segs, s)
		good, err := l.scan(s)
		if err != nil {
			return err
		}
		if size, err := f.Size(); err != nil {
			return fmt.Errorf("partlog: %w", err)
		} else if size != good {
			torn = true
			if err := f.Truncate(good); err != nil {
				return fmt.Errorf("partlog: truncating %s at byte %d: %w", path, good, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("partlog: %w", err)
			}
		}
		s.size = good
	}
	if len(l.segs) == 0 {
		if _, err := l.newSegment(0, 0); err != nil {
			return fmt.Errorf("partlog: %w", err)
		}
	}
	l.next = l.written
	if n := len(l.offsets); n > 0 {
		l.last = l.metaLocked(l.written - 1)
		l.hasLast = true
		l.lastTime = l.times[n-1]
	}
	if first := l.segs[0]; len(l.offsets) > 0 {
		l.begin = first.firstSeq
		l.firstSeq = first.firstSeq
	} else {
		l.begin, l.firstSeq = l.written, l.written
	}
	return nil
}

// scan reads a segment's records into the index and returns the length of
// its valid prefix.
func (l *Log) scan(s *segment) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, 1<<62), 1<<20)
	var pos int64
	var h [headerSize]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return pos, nil
			}
			return 0, fmt.Errorf("partlog: reading %s: %w", s.f.Name(), err)
		}
		n := binary.BigEndian.Uint32(h[0:4])
		seq := int64(binary.BigEndian.Uint64(h[8:16]))
		ms := int64(binary.BigEndian.Uint64(h[16:24]))
		if n > 64<<20 {
			return pos, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return pos, nil
		}
		crc := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, payload)
		if crc != binary.BigEndian.Uint32(h[4:8]) {
			return pos, nil
		}
		if len(l.offsets) == 0 && len(l.segs) == 1 {
			// The first record on disk fixes where numbering starts: earlier
			// segments may have been removed by retention.
			l.written, l.firstSeq, s.firstSeq = seq, seq, seq
		}
		if seq != l.written || (len(l.times) > 0 && ms < l.times[len(l.times)-1]) {
			return pos, nil
		}
		l.offsets = append(l.offsets, s.base+pos)
		l.times = append(l.times, ms)
		l.written++
		pos += int64(headerSize) + int64(n)
		l.end = s.base + pos
	}
}
