package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
	"github.com/ehstream/ehstream/streaming"
)

// defaultHTTPAddr is where `ehstream stream` serves its status page, as
// Spark serves its UI on 4040; httpPortTries more ports are tried after a
// taken one, as Spark's spark.port.maxRetries does.
const (
	defaultHTTPAddr = "127.0.0.1:4040"
	httpPortTries   = 16
)

func addHTTPFlag(fs *flag.FlagSet) *string {
	return fs.String("http", defaultHTTPAddr, fmt.Sprintf("serve the status page, JSON, /metrics, /healthz and /readyz on ADDR; "+
		"when its port is taken, the next free one of the %d after it; \"\" serves none", httpPortTries))
}

func addLagGroupFlag(fs *flag.FlagSet) *string {
	return fs.String("lag-consumer-group", "", "the consumer group the status page reads the oldest unread event of each partition with (one event, no owner level, when its position moved) "+
		"to show its age; default: the job's own, in which partitions a running replica holds show an age only while this replica reads them")
}

// statusServer is the stream's HTTP server: a listener taken before any
// side effect, serving a monitor once the stream exists.
type statusServer struct {
	ln  net.Listener
	srv *http.Server
	mon *monitor.Monitor
}

// listenStatus takes addr's port or, when that is taken, the next free
// one; nil when addr is "".
func listenStatus(addr string) (*statusServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := listenFallback(addr, httpPortTries)
	if err != nil {
		return nil, err
	}
	return &statusServer{ln: ln}, nil
}

// listenFallback is monitor.Listen, its errors said in terms of --http.
func listenFallback(addr string, tries int) (net.Listener, error) {
	ln, err := monitor.Listen(addr, tries)
	var ae *monitor.AddressError
	var pe *monitor.PortsInUseError
	switch {
	case errors.As(err, &ae) && ae.Err != nil:
		return nil, usageError{fmt.Errorf("--http %q: want HOST:PORT, e.g. %s, or \"\" for none: %v", addr, defaultHTTPAddr, ae.Err)}
	case errors.As(err, &ae):
		return nil, usageError{fmt.Errorf("--http %q: port %q is not a number from 0 to 65535", addr, ae.Port)}
	case errors.As(err, &pe):
		return nil, fmt.Errorf("--http %s: %v; give another address, or --http \"\" to serve none", addr, pe)
	case err != nil:
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	return ln, nil
}

// start serves a monitor of ssc and prints where.
func (s *statusServer) start(ssc *streaming.Context, opts *monitor.Options, out io.Writer) {
	if s == nil {
		return
	}
	s.mon = monitor.New(ssc, opts)
	s.srv = &http.Server{Handler: s.mon, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln)
	fmt.Fprintf(out, "status: %s\n", s.url())
}

// url is the page's address, with a host a browser can open.
func (s *statusServer) url() string {
	a := s.ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port)) + "/"
}

// watch shows the whole job on the page and in /metrics: every partition
// of the hub, whichever replica reads it, with the age of its oldest
// unread event read with lagGroup ("" is the job's own consumer group).
func (s *statusServer) watch(ds *eventhubs.DirectStream, lagGroup string) error {
	if s == nil || s.mon == nil {
		return nil
	}
	return ds.WatchJob(s.mon.JobObserved, &eventhubs.WatchOptions{LagConsumerGroup: lagGroup})
}

// ownershipChanged tells the monitor about a partition gained or lost.
func (s *statusServer) ownershipChanged(c balance.Change) {
	if s != nil && s.mon != nil {
		s.mon.OwnershipChanged(c)
	}
}

func (s *statusServer) close() {
	if s == nil {
		return
	}
	if s.srv == nil {
		s.ln.Close()
		return
	}
	shutdownHTTP(s.srv)
}

// monitorOptions names the job on its status page; the owner ID only when
// replicas share the partitions.
func (f *shareFlags) monitorOptions(conf *eventhubs.Conf, sk *sqlsink.Sink, job offsets.Job) *monitor.Options {
	o := &monitor.Options{Job: job.Name, Namespace: job.Namespace, Hub: conf.EventHubName(), ConsumerGroup: conf.ConsumerGroup(), Sink: sk.Desc + " table " + sk.Table}
	if *f.store != "" {
		o.Owner = *f.ownerID
	}
	return o
}
