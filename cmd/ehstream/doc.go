// Command ehstream is the command-line face of ehstream: the main job
// (stream: a hub into a SQL table or files, exactly once), a local Event Hubs
// (emulator), and sending to, describing and reading ranges of any hub.
//
// Each command parses its flags into a config (parse…Flags), checking
// every value before anything is done, and the config runs in named steps
// that call the packages; the packages check ranges, and the command names
// the flag in their errors. Files:
//   - main.go: the commands, usage, exit statuses, flag parsing, version;
//     hubflags.go: the hub flags every hub command takes (a connection
//     string, or --namespace with --credential, built by package
//     credential; --tls-ca; the hub, timeout, --transport and
//     --custom-endpoint), and flags that set one Conf setting
//     (setConfFlags); logformat.go: --log-format (with JSON, the job's
//     lines become records: package linelog); envflags.go: the flags that
//     may carry a secret, read from the environment when not given
//     (--sink, --ownership).
//   - info.go, send.go (linesend), read.go (eventjson; its progress bar
//     in readprogress.go), offsets.go (offsets, ownership): the commands.
//   - stream.go: the main job (into files: package capture; main.go's
//     runFiles, `ehstream files`, lists them); streamshare.go: its replicas' flags and
//     ownership store, and the refusal of a stream without them beside
//     live replicas (--take-over); streamhttp.go: its --http status server (monitor);
//     localhub.go: the local Event Hubs it starts without a connection
//     string.
//   - emulator.go: the emulator command; emulator_auth.go (--sas-policy,
//     --jwt-keys, --jwt-role, --insecure, --host-name), emulator_limits.go (memory, connection and
//     link bounds), emulator_tls.go (TLS, WebSockets and --kafka-listen,
//     --kafka-tls-listen, whose value is optional: package optionalflag) and faults.go
//     (--faults) its flags.
package main
