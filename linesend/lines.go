package linesend

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// MaxLine is the longest line Send takes: a 1 MiB event written as JSON,
// with room for escaping.
const MaxLine = 4 << 20

// line is a line of the reader: its number (from 1) and text, or the
// error that ended the reading.
type line struct {
	n    int
	text []byte
	err  error
}

// readLines feeds r's lines to a channel, so that the sender can tell when
// none are waiting.
func readLines(ctx context.Context, r io.Reader) <-chan line {
	ch := make(chan line, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), MaxLine)
		n := 0
		for sc.Scan() {
			n++
			select {
			case ch <- line{n: n, text: bytes.Clone(sc.Bytes())}:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("line %d is longer than %d bytes", n+1, MaxLine)
			}
			select {
			case ch <- line{n: n + 1, err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return ch
}

// next is the next line; ok is false at the end. With none waiting, it
// first sends what it has, so that an interactive sender sees each line
// go out, then waits.
func (s *sender) next(lines <-chan line) (l line, ok bool, err error) {
	select {
	case l, ok = <-lines:
		return l, ok, nil
	default:
	}
	if err := s.flush(); err != nil {
		return line{}, false, err
	}
	select {
	case l, ok = <-lines:
		return l, ok, nil
	case <-s.ctx.Done():
		return line{}, false, s.ctx.Err()
	}
}
