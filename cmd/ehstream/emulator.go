package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/partlog"
)

func runEmulator(ctx context.Context, args []string, std stdio) (err error) {
	stdout, stderr := std.out, std.err
	fs := newFlagSet("emulator", stderr)
	listen := fs.String("listen", "127.0.0.1:5672", "AMQP listen address (host:port)")
	data := fs.String("data", "./ehdata", "directory for the partition logs")
	inMemory := fs.Bool("in-memory", false, "keep nothing on disk (ignores --data)")
	configPath := fs.String("config", "", "Microsoft emulator Config.json with the hubs and consumer groups (default: hub eh1, 2 partitions, groups $Default and cg1)")
	health := fs.String("health", "", "address for the HTTP health endpoint GET /health, e.g. 127.0.0.1:5300 (default: none); on a loopback address, or with --insecure, it also serves the faults admin API: GET, POST and DELETE /faults")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := addLogFormatFlag(fs, "text or json: the format of the logs on stderr (the start-up lines on stdout stay text)")
	faultsFile := fs.String("faults", "", "a JSON file of faults to inject at start: one fault object or an array, as POST /faults takes (see the README)")
	repair := fs.Bool("repair", false, "start even if a partition log is damaged: move the damaged segment files, and the older ones, to <partition>/damaged/ (nothing is deleted) and serve what follows them")
	transport := addTransportFlags(fs) // TLS and WebSockets: emulator_tls.go
	auth := addAuthFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)}
	}
	if err := logFormat.check(); err != nil {
		return err
	}
	log := logFormat.logger(stderr, level)
	defer func() { err = logFormat.failed(log, "emulator", err) }()
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usageError{fmt.Errorf("--listen %q: %v", *listen, err)}
	}
	cfg := &emulator.Config{
		Listen: *listen,
		Logger: log,
		Repair: *repair,
	}
	if err := auth.apply(cfg); err != nil {
		return err
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

	var healthSrv *http.Server
	if *health != "" {
		ln, err := net.Listen("tcp", *health)
		if err != nil {
			return fmt.Errorf("--health %s: %w", *health, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintln(w, `{"status":"healthy"}`)
		})
		mountFaults(mux, srv, ln.Addr(), auth.insecure, stdout)
		healthSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go healthSrv.Serve(ln)
		fmt.Fprintf(stdout, "health:            http://%s/health\n", ln.Addr())
	}

	fmt.Fprintf(stdout, "ehstream emulator listening on %s (%s)\n", srv.Addr(), storageDesc(cfg.DataDir))
	fmt.Fprintf(stdout, "connection string: %s\n", auth.connectionString(srv, cfg))
	tlsInfo.print(stdout, srv)
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
	if healthSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		healthSrv.Shutdown(sctx)
		cancel()
	}
	return srv.Close()
}

func storageDesc(dir string) string {
	if dir == "" {
		return "in memory"
	}
	return "data in " + dir
}
