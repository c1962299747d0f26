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

// open checks the format and makes command's log on w (stderr) at level.
func (f *logFormatFlag) open(command string, w io.Writer, level slog.Leveler) (*commandLog, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch *f.value {
	case "text":
		return &commandLog{Logger: slog.New(slog.NewTextHandler(w, opts)), command: command}, nil
	case "json":
		return &commandLog{Logger: slog.New(slog.NewJSONHandler(w, opts)), command: command, json: true}, nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", *f.value)}
}

// commandLog is a command's logger on stderr, in the --log-format.
type commandLog struct {
	*slog.Logger
	command string
	json    bool
}

// failed is what the command returns for err: as is with text logs, and
// with JSON logs err logged as an error record and marked logged, so that
// run does not print it again as text. Stderr then holds nothing but JSON.
func (l *commandLog) failed(err error) error {
	if err == nil || !l.json || errors.Is(err, flag.ErrHelp) {
		return err
	}
	l.Error("ehstream "+l.command+" failed", "error", inFlagTerms.Replace(err.Error()))
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
