package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/internal/optionalflag"
)

// transportFlags are the emulator's flags for AMQP over TLS and over
// WebSockets.
type transportFlags struct {
	tlsListen, tlsCert, tlsKey, caOut, wsListen *string
	selfSigned                                  *bool
	names, origins                              []string
	kafka, kafkaTLS                             optionalflag.Addr
}

// defaultTLSListen is --tls-listen once TLS is configured: the port
// clients dial for amqps when the endpoint names none.
const defaultTLSListen = "127.0.0.1:5671"

func addTransportFlags(fs *flag.FlagSet) *transportFlags {
	f := &transportFlags{
		tlsListen:  fs.String("tls-listen", "", "address for AMQP over TLS (amqps), host:port (default "+defaultTLSListen+" once TLS is configured)"),
		tlsCert:    fs.String("tls-cert", "", "PEM file with the TLS server certificate (and any intermediate ones); needs --tls-key"),
		tlsKey:     fs.String("tls-key", "", "PEM file with the private key of --tls-cert"),
		selfSigned: fs.Bool("tls-self-signed", false, "serve TLS with a certificate from a CA the emulator makes once and keeps in <data>/"+emulator.SelfSignedDir+" (in memory with --in-memory); clients trust the CA (--tls-ca-out)"),
		caOut:      fs.String("tls-ca-out", "", "write the --tls-self-signed CA certificate (PEM) to this file, for clients to trust"),
		wsListen:   fs.String("ws-listen", "", "address for AMQP over WebSockets, host:port (path /$servicebus/websocket; over TLS when TLS is configured) (default: none)"),
	}
	f.kafka.Default, f.kafkaTLS.Default = "127.0.0.1:9092", "127.0.0.1:9093"
	fs.Var(&f.kafka, "kafka-listen", "serve Kafka clients on `[ADDR]`, host:port (alone: "+f.kafka.Default+"), over the same logs as AMQP; with a --sas-policy they authenticate with SASL PLAIN (user $ConnectionString, a connection string as password)")
	fs.Var(&f.kafkaTLS, "kafka-tls-listen", "serve Kafka over TLS on `[ADDR]`, host:port (alone: "+f.kafkaTLS.Default+"), with the certificate of AMQP's TLS; needs --tls-self-signed or --tls-cert")
	fs.Func("tls-name", "a host name or IP address the --tls-self-signed certificate is also for, besides localhost, 127.0.0.1 and ::1 (repeatable)", func(s string) error {
		f.names = append(f.names, s)
		return nil
	})
	fs.Func("ws-origin", "an Origin host pattern (path.Match syntax, e.g. localhost:*) of web pages allowed to connect over WebSockets, besides the emulator's own (repeatable)", func(s string) error {
		f.origins = append(f.origins, s)
		return nil
	})
	return f
}

// transportInfo is what the emulator prints about TLS once it runs.
type transportInfo struct {
	caFile string // the CA certificate clients trust; "" if none is on disk
	caNote string
	cert   string // --tls-cert
}

func (f *transportFlags) useTLS() bool { return *f.selfSigned || *f.tlsCert != "" || *f.tlsKey != "" }

// check refuses flags that do not go together, and sets cfg's WebSocket
// fields and the host names the certificate is also for.
func (f *transportFlags) check(cfg *emulator.Config) error {
	switch {
	case *f.tlsCert != "" && *f.tlsKey == "":
		return usageError{errors.New("--tls-cert needs --tls-key, the certificate's private key")}
	case *f.tlsKey != "" && *f.tlsCert == "":
		return usageError{errors.New("--tls-key needs --tls-cert, the certificate")}
	case *f.selfSigned && *f.tlsCert != "":
		return usageError{errors.New("--tls-cert and --tls-self-signed: give one of them")}
	case len(f.names) > 0 && !*f.selfSigned:
		return usageError{errors.New("--tls-name names hosts of the --tls-self-signed certificate: it needs --tls-self-signed")}
	case *f.caOut != "" && !*f.selfSigned:
		return usageError{errors.New("--tls-ca-out writes the --tls-self-signed CA: it needs --tls-self-signed (with --tls-cert, clients trust your certificate's CA)")}
	case *f.tlsListen != "" && !f.useTLS():
		return usageError{errors.New("--tls-listen needs a certificate: --tls-self-signed, or --tls-cert and --tls-key")}
	case f.kafkaTLS.Value() != "" && !f.useTLS():
		return usageError{errors.New("--kafka-tls-listen needs a certificate: --tls-self-signed, or --tls-cert and --tls-key")}
	case len(f.origins) > 0 && *f.wsListen == "":
		return usageError{errors.New("--ws-origin needs --ws-listen")}
	}
	for _, a := range []struct{ flag, addr string }{{"--tls-listen", *f.tlsListen}, {"--ws-listen", *f.wsListen}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return usageError{fmt.Errorf("%s %q: %v", a.flag, a.addr, err)}
		}
	}
	cfg.WebSocketListen, cfg.WebSocketOrigins = *f.wsListen, f.origins
	cfg.KafkaListen, cfg.KafkaTLSListen = f.kafka.Value(), f.kafkaTLS.Value()
	cfg.HostNames = append(cfg.HostNames, f.names...)
	return nil
}

// configure sets cfg's TLS, once check has passed: the --tls-cert, or
// with --tls-self-signed a certificate from a CA made once or reused
// (under cfg.DataDir, or in memory without one).
func (f *transportFlags) configure(cfg *emulator.Config) (*transportInfo, error) {
	if !f.useTLS() {
		return &transportInfo{}, nil
	}
	cfg.TLSListen = *f.tlsListen
	if cfg.TLSListen == "" {
		cfg.TLSListen = defaultTLSListen
	}
	if *f.tlsCert == "" {
		return f.selfSignedTLS(cfg)
	}
	if err := cfg.UseTLSFiles(*f.tlsCert, *f.tlsKey); err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	return &transportInfo{cert: *f.tlsCert}, nil
}

// selfSignedTLS is configure's --tls-self-signed.
func (f *transportFlags) selfSignedTLS(cfg *emulator.Config) (*transportInfo, error) {
	ss, err := cfg.UseSelfSignedTLS(f.names)
	if err != nil {
		return nil, fmt.Errorf("--tls-self-signed: %w", err)
	}
	info := &transportInfo{caFile: ss.CAFile()}
	switch {
	case ss.Dir == "":
		info.caNote = "new, in memory: --tls-ca-out writes it"
	case ss.NewCA:
		info.caNote = "new: clients must trust this one"
	default:
		info.caNote = "kept from an earlier start"
	}
	if *f.caOut != "" {
		if err := ss.WriteCAFile(*f.caOut); err != nil {
			return nil, fmt.Errorf("--tls-ca-out %s: %w", *f.caOut, err)
		}
		info.caFile = *f.caOut
	}
	if abs, err := filepath.Abs(info.caFile); err == nil && info.caFile != "" {
		info.caFile = abs
	}
	if ss.NewServerCert && !ss.NewCA {
		cfg.Logger.Info("issued a new server certificate from the CA", "names", strings.Join(ss.Names, ","))
	}
	return info, nil
}

// print says where TLS and WebSockets are served and how to trust them;
// connStr is the TLS connection string to show.
func (t *transportInfo) print(w io.Writer, srv *emulator.Server, connStr string) {
	if a := srv.TLSAddr(); a != "" {
		fmt.Fprintf(w, "TLS (amqps):       %s\n", a)
		switch {
		case t.cert != "":
			fmt.Fprintf(w, "TLS certificate:   %s\n", t.cert)
		case t.caFile != "":
			fmt.Fprintf(w, "CA certificate:    %s (%s)\n", t.caFile, t.caNote)
		default:
			fmt.Fprintf(w, "CA certificate:    in memory only; --tls-ca-out FILE writes it for clients\n")
		}
		fmt.Fprintf(w, "connection string (TLS): %s\n", connStr)
	}
	if u := srv.WebSocketURL(); u != "" {
		fmt.Fprintf(w, "WebSockets:        %s\n", u)
	}
	for _, l := range srv.Listeners() {
		if strings.HasPrefix(l.Transport, "kafka") {
			fmt.Fprintf(w, "%-19s%s\n", "Kafka ("+l.Transport+"):", l.Addr)
		}
	}
}
