// Package linelog turns lines written for people into log records: a
// Writer is an io.Writer that logs each line written to it as an info
// record of a slog.Logger, whose message is the line. A program that
// prints progress lines on stdout and logs as JSON on stderr (as
// `ehstream stream --log-format json` does) hands its printing code a
// Writer, and stderr then holds nothing but JSON.
//
//	out := io.Writer(os.Stdout)
//	if jsonLogs {
//		out = linelog.New(logger)
//	}
//	fmt.Fprintf(out, "streaming %s\n", hub) // a record {"msg":"streaming orders",...}
//
// Files: writer.go (Writer, New).
package linelog
