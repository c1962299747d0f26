package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// logFormatFlag is --log-format: how a command writes its logs to stderr,
// as slog's text or as one JSON object a line.
type logFormatFlag struct{ value *string }

func addLogFormatFlag(fs *flag.FlagSet, help string) *logFormatFlag {
	return &logFormatFlag{fs.String("log-format", "text", help)}
}

// check refuses a format other than text and json, naming it.
func (f *logFormatFlag) check() error {
	switch *f.value {
	case "text", "json":
		return nil
	}
	return usageError{fmt.Errorf("--log-format %q: want text or json", *f.value)}
}

func (f *logFormatFlag) json() bool { return *f.value == "json" }

// logger is the command's logger on w (stderr) at level.
func (f *logFormatFlag) logger(w io.Writer, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f.json() {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// failed is what a command returns for err: as is with text logs, and with
// JSON logs err logged as an error record and marked logged, so that run
// does not print it again as text. Stderr then holds nothing but JSON.
func (f *logFormatFlag) failed(log *slog.Logger, command string, err error) error {
	if err == nil || !f.json() || errors.Is(err, flag.ErrHelp) {
		return err
	}
	log.Error("ehstream "+command+" failed", "error", err.Error())
	return loggedError{err}
}

// loggedError is an error the command has logged already: run exits with
// its status (2 for a usage error) without printing it.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// lineLogger is an io.Writer that logs each line written to it as an info
// record whose message is the line: with --log-format json, the lines a
// command prints for people become records on the log's one stream.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte // a line not yet ended
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(l.buf[:i]), "\r"); line != "" {
			l.log.Info(line)
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
