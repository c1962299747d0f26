package linelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Writer logs each line written to it as an info record of its logger,
// the line as the message, without its line ending ("\n" or "\r\n").
// Blank lines are left out, and a line not yet ended waits for its end.
// It is safe for concurrent use; a line is logged whole whichever
// goroutines wrote its pieces.
type Writer struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte // a line not yet ended
}

// New is a Writer logging to log.
func New(log *slog.Logger) *Writer { return &Writer{log: log} }

// Write logs every line p ends, and keeps what follows the last one for
// the next Write. It never fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(w.buf[:i]), "\r"); line != "" {
			w.log.Info(line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
