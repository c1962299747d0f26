package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ehstream/ehstream/buildinfo"
	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/credential"
	"github.com/ehstream/ehstream/internal/optionalflag"
	"github.com/ehstream/ehstream/sqlsink"
)

// command is one subcommand: run parses args and does the work.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, std stdio) error
}

// commandConfig is a command's flags, parsed and checked: what it runs
// with. run does the command, step by step.
type commandConfig interface {
	run(ctx context.Context, std stdio) error
}

// parseThenRun is a command's run: parse turns its flags into its config,
// checking every value before anything is done, and the config runs.
func parseThenRun[C commandConfig](parse func(args []string, stderr io.Writer) (C, error)) func(context.Context, []string, stdio) error {
	return func(ctx context.Context, args []string, std stdio) error {
		c, err := parse(args, std.err)
		if err != nil {
			return err
		}
		return c.run(ctx, std)
	}
}

// stdio is a command's standard input, output and error.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = []command{
	{"emulator", "run a local Event Hubs that the official SDKs connect to", parseThenRun(parseEmulatorFlags)},
	{"info", "show a hub's partitions and their sequence numbers", parseThenRun(parseInfoFlags)},
	{"send", "send stdin's lines (or JSON objects) as events", parseThenRun(parseSendFlags)},
	{"read", "read offset ranges of sequence numbers as JSON lines", parseThenRun(parseReadFlags)},
	{"stream", "write a hub to a SQL table or to files, exactly once (the main job)", parseThenRun(parseStreamFlags)},
	{"files", "list the files of stream --sink file: or blob:, their ranges, gaps and overlaps", runFiles},
	{"offsets", "show a job's stored positions, its lag and who owns its partitions", parseThenRun(parseOffsetsFlags)},
	{"version", "print the version and the revision it was built from (also --version)", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, std stdio) int {
	stderr := std.err
	switch {
	case len(args) == 0:
		usage(stderr)
		return 2
	case len(args) > 1 && args[0] == "help":
		args = []string{args[1], "-h"} // ehstream help CMD
	case args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help":
		usage(std.out)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], std)
			var help helpRequested
			switch {
			case err == nil:
				return 0
			case errors.As(err, &help):
				fmt.Fprint(std.out, help.usage)
				return 0
			case errors.As(err, new(loggedError)) && errors.As(err, new(usageError)):
				return 2 // logged as JSON (--log-format json)
			case errors.As(err, new(loggedError)):
				return 1
			case errors.As(err, new(usageError)):
				fmt.Fprintf(stderr, "ehstream %s: %s\n", c.name, inFlagTerms.Replace(err.Error()))
				return 2
			default:
				fmt.Fprintf(stderr, "ehstream %s: %s\n", c.name, inFlagTerms.Replace(err.Error()))
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "ehstream: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ehstream <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'ehstream help <command>' (or 'ehstream <command> -h') for a command's flags.")
}

// runVersion prints what the toolchain stamped into the binary: the
// module's version, the VCS revision and its time, the Go version.
func runVersion(_ context.Context, args []string, std stdio) error {
	if err := parseFlags(newFlagSet("version", std.err), args); err != nil {
		return err
	}
	_, err := fmt.Fprint(std.out, buildinfo.Read())
	return err
}

// runFiles is `ehstream files DEST`: the files stream --sink DEST wrote,
// every hub's, and their gaps and overlaps (capture.ReportFiles).
func runFiles(ctx context.Context, args []string, std stdio) error {
	spec := os.Getenv(secretFlagEnv["sink"])
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		spec, args = args[0], args[1:]
	}
	if err := parseFlags(newFlagSet("files", std.err), args); err != nil {
		return err
	}
	cred, err := credential.New(credential.Default, nil) // for a blob:https:// container; it signs in when first asked
	if err != nil {
		return err
	}
	return capture.ReportFiles(ctx, spec, cred, std.out)
}

// sinkFlagError makes a bad sink spec or table name the usage error of
// its flag (--sink, --table).
func sinkFlagError(err error) error {
	var se *sqlsink.SpecError
	var oe *capture.OptionError
	switch {
	case errors.As(err, &se):
		return usageError{fmt.Errorf("--%s: %s", se.Param, se.Message)}
	case errors.As(err, &oe):
		return usageError{fmt.Errorf("--%s: %s", strings.Join(oe.Options, " with --"), oe.Message)}
	}
	return err
}

// inFlagTerms says a package's error in the command's terms: the Conf
// settings that eventhubs and offsets name in their messages become the
// flags that set them, and eventjson's body formats --body. Only the
// phrases that name a setting are rewritten, not, say, a connection
// string's OperationTimeout= key.
var inFlagTerms = strings.NewReplacer(
	"within OperationTimeout (", "within --operation-timeout (",
	"(OperationTimeout)", "(--operation-timeout)",
	"within ReceiverTimeout (", "within --receiver-timeout (",
	"set FailOnDataLoss false", "give --fail-on-data-loss=false",
	"with FailOnDataLoss false", "with --fail-on-data-loss=false",
	"(BodyAuto writes it as text)", "(--body auto prints it as text)",
)

// usageError marks a bad flag or argument: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ehstream "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// helpRequested is -h or --help: the command's usage, which run prints on
// standard output with exit status 0, as the answer asked for (so that
// `ehstream stream -h | less` shows it). A mistake prints the usage on
// standard error.
type helpRequested struct{ usage string }

func (h helpRequested) Error() string { return flag.ErrHelp.Error() }
func (h helpRequested) Unwrap() error { return flag.ErrHelp }

// parseFlags parses args and refuses stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	stderr := fs.Output()
	var printed bytes.Buffer // the flag package's usage and errors
	fs.SetOutput(&printed)
	err := optionalflag.Parse(fs, args) // fs.Parse, and --kafka-listen [ADDR]
	fs.SetOutput(stderr)
	if errors.Is(err, flag.ErrHelp) {
		return helpRequested{printed.String()}
	}
	stderr.Write(printed.Bytes())
	if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
