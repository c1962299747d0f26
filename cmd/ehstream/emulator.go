package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/emulatorhttp"
	"github.com/ehstream/ehstream/emulator/partlog"
)

func runEmulator(ctx context.Context, args []string, std stdio) (err error) {
	stdout, stderr := std.out, std.err
	fs := newFlagSet("emulator", stderr)
	listen := fs.String("listen", "127.0.0.1:5672", "AMQP listen address (host:port)")
	data := fs.String("data", "./ehdata", "directory for the partition logs")
	inMemory := fs.Bool("in-memory", false, "keep nothing on disk (ignores --data)")
	configPath := fs.String("config", "", "Microsoft emulator Config.json with the hubs and consumer groups (default: hub eh1, 2 partitions, groups $Default and cg1)")
	httpAddr := fs.String("http", "", "loopback address for HTTP, e.g. 127.0.0.1:5300 (default: none; another address needs --insecure): a status page of the hubs, partitions, consumer groups and readers at /, the same as JSON at /api/hubs, Prometheus metrics at /metrics, GET /health and the faults admin API (GET, POST and DELETE /faults); requests must name the emulator in Host, and POST and DELETE come from no web page or the page's own origin, POST with Content-Type: application/json")
	health := fs.String("health", "", "deprecated: the old name of --http")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := addLogFormatFlag(fs, "text or json: the format of the logs on stderr (the start-up lines on stdout stay text)")
	faultsFile := fs.String("faults", "", "a JSON file of faults to inject at start: one fault object or an array, as POST /faults takes (see the README)")
	repair := fs.Bool("repair", false, "start even if a partition log is damaged: move the damaged segment files, and the older ones, to <partition>/damaged/ (nothing is deleted) and serve what follows them")
	transport := addTransportFlags(fs) // TLS and WebSockets: emulator_tls.go
	auth := addAuthFlags(fs)
	limits := addLimitFlags(fs) // memory, connections, sessions and links: emulator_limits.go
	hostNames := addHostNameFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)}
	}
	cmdLog, err := logFormat.open("emulator", stderr, level)
	if err != nil {
		return err
	}
	defer func() { err = cmdLog.failed(err) }()
	log := cmdLog.Logger
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usageError{fmt.Errorf("--listen %q: %v", *listen, err)}
	}
	httpFlag, err := httpAddress(fs, *httpAddr, *health, stderr)
	if err != nil {
		return err
	}
	cfg := &emulator.Config{
		Listen:    *listen,
		Logger:    log,
		Repair:    *repair,
		HostNames: *hostNames,
	}
	limits.apply(cfg)
	if err := auth.apply(cfg); err != nil {
		return err
	}
	if httpFlag.addr != "" {
		if err := emulatorhttp.CheckListen(httpFlag.addr, auth.insecure); err != nil {
			return fmt.Errorf("--%s: %w", httpFlag.name, err)
		}
		// The names the page is reached by are the emulator's too.
		cfg.HostNames = append(cfg.HostNames, emulator.ListenHostNames(httpFlag.addr)...)
	}
	if !*inMemory {
		if *data == "" {
			return usageError{errors.New("--data is empty; give a directory or --in-memory")}
		}
		cfg.DataDir = *data
	}
	tlsInfo, err := transport.configure(cfg)
	if err != nil {
		return err
	}
	if *configPath != "" {
		ns, hubs, err := emulator.LoadConfigFile(*configPath)
		if err != nil {
			return err
		}
		cfg.Namespace, cfg.Hubs = ns, hubs
	}
	var faults []emulator.Fault
	if *faultsFile != "" {
		var err error
		if faults, err = loadFaults(*faultsFile); err != nil {
			return err
		}
	}
	srv, err := emulator.Start(ctx, cfg)
	if ce := (*partlog.CorruptError)(nil); errors.As(err, &ce) {
		return fmt.Errorf("%w\nnothing was changed; --repair moves the damaged segment and every older one to %s (nothing is deleted) and serves what follows",
			err, filepath.Join(filepath.Dir(ce.Path), partlog.DamagedDir))
	}
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := injectStartFaults(srv, *faultsFile, faults, stdout); err != nil {
		return err
	}

	var httpSrv *http.Server
	if httpFlag.addr != "" {
		ln, err := net.Listen("tcp", httpFlag.addr)
		if err != nil {
			return fmt.Errorf("--%s %s: %w", httpFlag.name, httpFlag.addr, err)
		}
		httpSrv = &http.Server{Handler: emulatorhttp.New(srv, emulatorhttp.Options{Faults: true}), ReadHeaderTimeout: 5 * time.Second}
		go httpSrv.Serve(ln)
		fmt.Fprintf(stdout, "status page:       http://%s/\n", ln.Addr())
		fmt.Fprintf(stdout, "metrics:           http://%s/metrics\n", ln.Addr())
		fmt.Fprintf(stdout, "health:            http://%s/health\n", ln.Addr())
		fmt.Fprintf(stdout, "faults API:        http://%s/faults\n", ln.Addr())
	}

	fmt.Fprintf(stdout, "ehstream emulator listening on %s (%s)\n", srv.Addr(), storageDesc(cfg.DataDir))
	fmt.Fprintf(stdout, "connection string: %s\n", auth.connectionString(srv, cfg))
	tlsInfo.print(stdout, srv, auth.tlsConnectionString(srv, cfg))
	auth.printMode(stdout, cfg)
	for _, h := range srv.Hubs() {
		retention := "forever"
		if h.Retention > 0 {
			retention = h.Retention.String()
		}
		fmt.Fprintf(stdout, "hub %-14s partitions=%d consumer-groups=%s retention=%s\n", h.Name, h.PartitionCount, strings.Join(h.ConsumerGroups, ","), retention)
	}
	fmt.Fprintln(stdout, "press Ctrl-C to stop")

	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		httpSrv.Shutdown(sctx)
		cancel()
	}
	return srv.Close()
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
