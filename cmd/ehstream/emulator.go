package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	"github.com/ehstream/ehstream/emulator/partlog"
	"github.com/ehstream/ehstream/monitor"
)

// emulatorConfig is the local Event Hubs `ehstream emulator` runs, with
// what it serves besides AMQP and what it injects at start.
type emulatorConfig struct {
	cfg        *emulator.Config
	log        *commandLog
	http       httpFlag
	transport  *transportFlags // its TLS material is made as the emulator starts
	auth       *authFlags
	faultsFile string
	faults     []emulator.Fault
}

// emulatorFlags are emulator's flags as given.
type emulatorFlags struct {
	listen, data, configPath string
	httpAddr, health         string
	logLevel, faultsFile     string
	inMemory, repair         bool
	logFormat                *logFormatFlag
	transport                *transportFlags
	auth                     *authFlags
	limits                   *limitFlags
	hostNames                *[]string
}

func addEmulatorFlags(fs *flag.FlagSet) *emulatorFlags {
	f := &emulatorFlags{}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:5672", "AMQP listen address (host:port)")
	fs.StringVar(&f.data, "data", "./ehdata", "directory for the partition logs")
	fs.BoolVar(&f.inMemory, "in-memory", false, "keep nothing on disk (ignores --data)")
	fs.StringVar(&f.configPath, "config", "", "Microsoft emulator Config.json with the hubs and consumer groups (default: hub eh1, 2 partitions, groups $Default and cg1)")
	fs.StringVar(&f.httpAddr, "http", "", "loopback address for HTTP, e.g. 127.0.0.1:5300 (default: none; another address needs --insecure): a status page of the hubs, partitions, consumer groups and readers at /, the same as JSON at /api/hubs, Prometheus metrics at /metrics, GET /health and the faults admin API (GET, POST and DELETE /faults); requests must name the emulator in Host, and POST and DELETE come from no web page or the page's own origin, POST with Content-Type: application/json")
	fs.StringVar(&f.health, "health", "", "deprecated: the old name of --http")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.logFormat = addLogFormatFlag(fs, "text or json: the format of the logs on stderr (the start-up lines on stdout stay text)")
	fs.StringVar(&f.faultsFile, "faults", "", "a JSON file of faults to inject at start: one fault object or an array, as POST /faults takes (see the README)")
	fs.BoolVar(&f.repair, "repair", false, "start even if a partition log is damaged: move the damaged segment files, and the older ones, to <partition>/damaged/ (nothing is deleted) and serve what follows them")
	f.transport = addTransportFlags(fs) // TLS and WebSockets: emulator_tls.go
	f.auth = addAuthFlags(fs)
	f.limits = addLimitFlags(fs) // memory, connections, sessions and links: emulator_limits.go
	f.hostNames = addHostNameFlag(fs)
	return f
}

func parseEmulatorFlags(args []string, stderr io.Writer) (*emulatorConfig, error) {
	fs := newFlagSet("emulator", stderr)
	f := addEmulatorFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)}
	}
	log, err := f.logFormat.open("emulator", stderr, level)
	if err != nil {
		return nil, err
	}
	c, err := f.config(fs, log, stderr)
	if err != nil {
		return nil, log.failed(err)
	}
	return c, nil
}

// config checks the flags and builds the emulator's Config, reading the
// hubs' Config.json and the faults file.
func (f *emulatorFlags) config(fs *flag.FlagSet, log *commandLog, stderr io.Writer) (*emulatorConfig, error) {
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return nil, usageError{fmt.Errorf("--listen %q: %v", f.listen, err)}
	}
	c := &emulatorConfig{log: log, transport: f.transport, auth: f.auth, faultsFile: f.faultsFile}
	var err error
	if c.http, err = httpAddress(fs, f.httpAddr, f.health, stderr); err != nil {
		return nil, err
	}
	c.cfg = &emulator.Config{Listen: f.listen, Logger: log.Logger, Repair: f.repair, HostNames: *f.hostNames}
	f.limits.apply(c.cfg)
	if err := f.auth.apply(c.cfg); err != nil {
		return nil, err
	}
	if c.http.addr != "" {
		if err := emulatorhttp.CheckListen(c.http.addr, f.auth.insecure); err != nil {
			return nil, fmt.Errorf("--%s: %w", c.http.name, err)
		}
		// The names the page is reached by are the emulator's too.
		c.cfg.HostNames = append(c.cfg.HostNames, emulator.ListenHostNames(c.http.addr)...)
	}
	if !f.inMemory {
		if f.data == "" {
			return nil, usageError{errors.New("--data is empty; give a directory or --in-memory")}
		}
		c.cfg.DataDir = f.data
	}
	if err := f.transport.check(c.cfg); err != nil {
		return nil, err
	}
	return c, c.load(f.configPath)
}

// load reads the hubs of --config and the faults of --faults.
func (c *emulatorConfig) load(configPath string) error {
	if configPath != "" {
		ns, hubs, err := emulator.LoadConfigFile(configPath)
		if err != nil {
			return err
		}
		c.cfg.Namespace, c.cfg.Hubs = ns, hubs
	}
	if c.faultsFile == "" {
		return nil
	}
	var err error
	if c.faults, err = emulator.LoadFaultsFile(c.faultsFile); err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	return nil
}

func (c *emulatorConfig) run(ctx context.Context, std stdio) (err error) {
	defer func() { err = c.log.failed(err) }()
	tlsInfo, err := c.transport.configure(c.cfg)
	if err != nil {
		return err
	}
	srv, err := startEmulator(ctx, c.cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := injectStartFaults(srv, c.faultsFile, c.faults, std.out); err != nil {
		return err
	}
	httpSrv, err := c.serveHTTP(srv, std.out)
	if err != nil {
		return err
	}
	c.printStarted(std.out, srv, tlsInfo)
	<-ctx.Done()
	fmt.Fprintln(std.out, "stopping")
	if httpSrv != nil {
		httpSrv.Close()
	}
	return srv.Close()
}

// startEmulator starts the emulator; a damaged partition log is refused
// with what --repair would do about it.
func startEmulator(ctx context.Context, cfg *emulator.Config) (*emulator.Server, error) {
	srv, err := emulator.Start(ctx, cfg)
	if ce := (*partlog.CorruptError)(nil); errors.As(err, &ce) {
		return nil, fmt.Errorf("%w\nnothing was changed; --repair moves the damaged segment and every older one to %s (nothing is deleted) and serves what follows",
			err, filepath.Join(filepath.Dir(ce.Path), partlog.DamagedDir))
	}
	return srv, err
}

// serveHTTP serves the status page, metrics, health and faults API on
// --http, if given, and says where; nil without.
func (c *emulatorConfig) serveHTTP(srv *emulator.Server, out io.Writer) (*monitor.Server, error) {
	if c.http.addr == "" {
		return nil, nil
	}
	hs, err := monitor.ListenServer(c.http.addr, 0) // this port or none
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", c.http.name, c.http.addr, err)
	}
	hs.Serve(emulatorhttp.New(srv, emulatorhttp.Options{Faults: true}))
	fmt.Fprintf(out, "status page:       http://%s/\n", hs.Addr())
	fmt.Fprintf(out, "metrics:           http://%s/metrics\n", hs.Addr())
	fmt.Fprintf(out, "health:            http://%s/health\n", hs.Addr())
	fmt.Fprintf(out, "faults API:        http://%s/faults\n", hs.Addr())
	return hs, nil
}

// printStarted says where the emulator listens, how to connect to it and
// what hubs it serves.
func (c *emulatorConfig) printStarted(w io.Writer, srv *emulator.Server, tlsInfo *transportInfo) {
	fmt.Fprintf(w, "ehstream emulator listening on %s (%s)\n", srv.Addr(), storageDesc(c.cfg.DataDir))
	fmt.Fprintf(w, "connection string: %s\n", shownConnectionString(srv.PrintableConnectionString()))
	tlsInfo.print(w, srv, shownConnectionString(srv.PrintableTLSConnectionString()))
	c.auth.printMode(w, c.cfg)
	for _, h := range srv.Hubs() {
		retention := "forever"
		if h.Retention > 0 {
			retention = h.Retention.String()
		}
		fmt.Fprintf(w, "hub %-14s partitions=%d consumer-groups=%s retention=%s\n", h.Name, h.PartitionCount, strings.Join(h.ConsumerGroups, ","), retention)
	}
	fmt.Fprintln(w, "press Ctrl-C to stop")
}

// httpFlag is the HTTP address and the name of the flag that gave it.
type httpFlag struct{ addr, name string }

// httpAddress reconciles --http with its deprecated old name --health:
// either gives the address; both may be given only with the same value.
// --health alone works, with a warning on stderr.
func httpAddress(fs *flag.FlagSet, httpAddr, health string, stderr io.Writer) (httpFlag, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["http"] && set["health"] && httpAddr != health:
		return httpFlag{}, usageError{fmt.Errorf("--health is the old name of --http, and they differ (--http %q, --health %q): give --http only", httpAddr, health)}
	case set["health"] && !set["http"]:
		fmt.Fprintln(stderr, "ehstream emulator: --health is deprecated: use --http, which serves /health and more")
		return httpFlag{addr: health, name: "health"}, nil
	}
	return httpFlag{addr: httpAddr, name: "http"}, nil
}

func storageDesc(dir string) string {
	if dir == "" {
		return "in memory"
	}
	return "data in " + dir
}
