package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
