package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/offsets"
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

// statusServer is the stream's HTTP server: a port taken before any
// side effect, serving a monitor once the stream exists.
type statusServer struct {
	srv *monitor.Server
	mon *monitor.Monitor
}

// listenStatus takes addr's port or, when that is taken, the next free
// one; nil when addr is "".
func listenStatus(addr string) (*statusServer, error) {
	if addr == "" {
		return nil, nil
	}
	srv, err := listenFallback(addr, httpPortTries)
	if err != nil {
		return nil, err
	}
	return &statusServer{srv: srv}, nil
}

// listenFallback is monitor.ListenServer, its errors said in terms of
// --http.
func listenFallback(addr string, tries int) (*monitor.Server, error) {
	srv, err := monitor.ListenServer(addr, tries)
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
	return srv, nil
}

// start serves a monitor of ssc and prints where.
func (s *statusServer) start(ssc *streaming.Context, opts *monitor.Options, out io.Writer) {
	if s == nil {
		return
	}
	s.mon = monitor.New(ssc, opts)
	s.srv.Serve(s.mon)
	fmt.Fprintf(out, "status: %s\n", s.srv.URL())
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
	if s != nil {
		s.srv.Close()
	}
}

// monitorOptions names the job on its status page; the owner ID only when
// replicas share the partitions.
func (f *shareFlags) monitorOptions(ds *eventhubs.DirectStream, conf *eventhubs.Conf, sink string, job offsets.Job) *monitor.Options {
	o := &monitor.Options{Job: job.Name, Namespace: job.Namespace, Hub: conf.EventHubName(), ConsumerGroup: conf.ConsumerGroup(), Sink: sink,
		ReadAheadBytes: ds.ReadAheadBytes}
	if *f.store != "" {
		o.Owner = *f.ownerID
	}
	return o
}
