package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/emulator/kafka"
)

// Server is a running emulator.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	tr      transports      // TLS and WebSocket listeners (transport.go)
	hubs    map[string]*hub // by lower-case name
	hubList []*hub
	names   hostNames // the names it answers to besides loopback ones (hosts.go)

	mu      sync.Mutex
	conns   map[*conn]struct{}
	served  int // connections in conns not refused for MaxConnections
	closing bool

	refusing atomic.Int64 // refused connections being told why (transport.go)
	refusals rareLog      // their log

	wg        sync.WaitGroup
	stop      chan struct{}
	closeOnce sync.Once
	closeErr  error

	stats   serverStats
	faults  faultSet
	started time.Time
	budget  *byteBudget // bytes of deliveries in flight (budget.go)
}

// Stats counts what the emulator has done since it started, and what is
// open now. Snapshot has the counts per hub and partition.
type Stats struct {
	Connections    int64 // accepted
	ConsumerLinks  int64 // consumer (receive) links attached
	ProducerLinks  int64 // producer (send) links attached
	EventsAppended int64
	EventsSent     int64 // events delivered to consumers
	Faults         FaultStats
	// Throttled counts deliveries refused with server-busy because the
	// budget of bytes in flight (Config.MaxInFlightBytes, or the link's)
	// could not hold them.
	Throttled int64
	// ConnectionsRefused counts connections closed at once because
	// Config.MaxConnections were open.
	ConnectionsRefused int64
	// ManagementRequests counts the requests to $management by what they
	// asked for (every ManagementOp, 0 included), answered or refused.
	ManagementRequests map[ManagementOp]int64

	OpenConnections int64              // connections open now (TCP, TLS and WebSocket)
	OpenLinks       map[LinkKind]int64 // links attached now, by kind (every kind, 0 included)
	InFlightBytes   int64              // bytes of deliveries being read or waiting to be stored, now (budget.go)
	HeldBack        int64              // deliveries waiting now for room in that budget, each holding up its connection
	// Fsync is how long the fsyncs of partition log files took: the
	// group commits of appends, and the syncs of new segment files. Empty
	// in memory.
	Fsync Histogram
	// Kafka is the Kafka endpoint's counters; zero without KafkaListen.
	// Its produces and fetches count in EventsAppended and EventsSent too.
	Kafka kafka.Stats
}

type serverStats struct {
	connections, consumerLinks, producerLinks, eventsAppended, eventsSent atomic.Int64
	throttled, connectionsRefused                                         atomic.Int64

	openLinks  [numLinkKinds]atomic.Int64
	management [numManagementOps]atomic.Int64
	fsync      latencyHistogram
}

// Start opens the partition logs and listens for AMQP connections. ctx bounds
// the start only: the server runs until Close.
func Start(ctx context.Context, cfg *Config) (*Server, error) {
	c := cfg.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := checkExposure(c); err != nil {
		return nil, err
	}
	s := &Server{cfg: c, log: c.Logger, hubs: map[string]*hub{}, conns: map[*conn]struct{}{}, stop: make(chan struct{}), started: time.Now(),
		names: newHostNames(&c), budget: newByteBudget(c.MaxInFlightBytes)}
	for _, hc := range c.Hubs {
		if err := ctx.Err(); err != nil {
			s.closeHubs()
			return nil, err
		}
		h, err := openHub(hc, &c, s.stats.fsync.observe)
		if err != nil {
			s.closeHubs()
			return nil, err
		}
		s.hubs[strings.ToLower(hc.Name)] = h
		s.hubList = append(s.hubList, h)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.Listen)
	if err != nil {
		s.closeHubs()
		return nil, fmt.Errorf("emulator: listen on %s: %w", c.Listen, err)
	}
	s.ln = ln
	if err := s.startTransports(ctx); err != nil {
		ln.Close()
		s.closeHubs()
		return nil, err
	}
	s.wg.Add(2)
	go s.acceptLoop(ln)
	go s.retentionLoop()
	s.log.Info("emulator listening", "addr", s.Addr(), "namespace", c.Namespace, "hubs", len(s.hubList), "data", dataDesc(c.DataDir))
	s.logAuthMode()
	return s, nil
}

func dataDesc(dir string) string {
	if dir == "" {
		return "in memory"
	}
	return dir
}

// Addr is the address the server listens on, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ConnectionString returns a connection string for hub ("" for the
// namespace, without EntityPath) that the official SDKs accept. With SAS
// policies it carries the first policy's name and key: keep it secret.
func (s *Server) ConnectionString(hub string) string {
	keyName, key := s.credentials()
	cs := "Endpoint=sb://" + s.Addr() + ";SharedAccessKeyName=" + keyName + ";SharedAccessKey=" + key + ";UseDevelopmentEmulator=true"
	if hub != "" {
		cs += ";EntityPath=" + hub
	}
	return cs
}

// KeyPlaceholder stands for a policy's key in PrintableConnectionString.
const KeyPlaceholder = "<KEY>"

// PrintableConnectionString is ConnectionString("") safe to print: with
// SAS policies, the first one's name and KeyPlaceholder, built without the
// key so that it cannot leak whatever the key holds; in development mode,
// ConnectionString(""), whose key is a placeholder too. "" when only JWT
// bearer tokens sign in: there is no key to show.
func (s *Server) PrintableConnectionString() string {
	return s.printable(s.ConnectionString(""), ";UseDevelopmentEmulator=true")
}

// PrintableTLSConnectionString is TLSConnectionString("") made safe to
// print as PrintableConnectionString is; "" without TLS too.
func (s *Server) PrintableTLSConnectionString() string {
	return s.printable(s.TLSConnectionString(""), "")
}

// printable is cs with KeyPlaceholder for the key, its endpoint followed
// by the first policy's name and rest.
func (s *Server) printable(cs, rest string) string {
	switch {
	case cs == "" || len(s.cfg.SASPolicies) == 0 && s.cfg.JWTKeys != nil:
		return ""
	case len(s.cfg.SASPolicies) == 0:
		return cs
	}
	endpoint, _, _ := strings.Cut(cs, ";") // an endpoint holds no ';'
	return endpoint + ";SharedAccessKeyName=" + s.cfg.SASPolicies[0].Name + ";SharedAccessKey=" + KeyPlaceholder + rest
}

// HubInfo describes a hub the server serves.
type HubInfo struct {
	Name           string
	PartitionCount int
	ConsumerGroups []string
	Retention      time.Duration
	MaxEventSize   int
}

// Hubs lists the hubs served, in configuration order.
func (s *Server) Hubs() []HubInfo {
	out := make([]HubInfo, 0, len(s.hubList))
	for _, h := range s.hubList {
		groups := make([]string, 0, len(h.groups))
		for _, g := range h.groups {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		out = append(out, HubInfo{Name: h.cfg.Name, PartitionCount: len(h.partitions), ConsumerGroups: groups, Retention: h.cfg.Retention, MaxEventSize: h.cfg.MaxEventSize})
	}
	return out
}

// Stats returns counters of what the server has done, and what is open.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := int64(s.served)
	s.mu.Unlock()
	return Stats{
		Connections:        s.stats.connections.Load(),
		ConsumerLinks:      s.stats.consumerLinks.Load(),
		ProducerLinks:      s.stats.producerLinks.Load(),
		EventsAppended:     s.stats.eventsAppended.Load(),
		EventsSent:         s.stats.eventsSent.Load(),
		Faults:             s.faults.stats(),
		Throttled:          s.stats.throttled.Load(),
		ConnectionsRefused: s.stats.connectionsRefused.Load(),
		ManagementRequests: s.managementRequests(),
		OpenConnections:    open,
		OpenLinks:          s.openLinks(),
		InFlightBytes:      s.budget.held.Load(),
		HeldBack:           s.budget.blocked.Load(),
		Fsync:              s.stats.fsync.snapshot(),
		Kafka:              s.kafkaStats(),
	}
}

// Close stops accepting, closes every connection and the partition logs.
// Every event acknowledged before Close is on disk.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		err := s.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		err = errors.Join(err, s.closeTransports())
		s.mu.Lock()
		s.closing = true
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		// Each shutdown may wait closeGrace for a client that does not read;
		// together, they wait that long once.
		var shutdowns sync.WaitGroup
		for _, c := range conns {
			shutdowns.Go(func() { c.shutdown(connForced("the emulator is shutting down")) })
		}
		shutdowns.Wait()
		s.wg.Wait()
		s.closeErr = errors.Join(err, s.closeHubs())
	})
	return s.closeErr
}

func (s *Server) closeHubs() error {
	var errs []error
	for _, h := range s.hubList {
		errs = append(errs, h.close())
	}
	return errors.Join(errs...)
}

// acceptLoop accepts connections until the server closes. A failed accept
// (most often: no file descriptors left) is retried after a pause that
// doubles from 5 ms up to a second while failures go on, as net/http does,
// and logged at most once a second.
func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	var pause time.Duration
	var failures rareLog
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			failures.log(s.log, slog.LevelError, "accept failed; retrying", "err", err, "retry_in", pause)
			select {
			case <-s.stop:
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		c, ok := s.register(nc)
		if !ok {
			return
		}
		go s.run(c)
	}
}

// rareLog logs an event that may recur many times a second at most once a
// second, saying how many were not logged since the last line.
type rareLog struct {
	mu     sync.Mutex
	last   time.Time
	missed int
}

func (r *rareLog) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < time.Second {
		r.missed++
		r.mu.Unlock()
		return
	}
	missed := r.missed
	r.last, r.missed = now, 0
	r.mu.Unlock()
	if missed > 0 {
		args = append(args, "not_logged_since", missed)
	}
	l.Log(context.Background(), level, msg, args...)
}

// retentionLoop expires old events. The period follows the shortest
// retention so a 2-second retention is seen within a fraction of it.
func (s *Server) retentionLoop() {
	defer s.wg.Done()
	period := time.Duration(0)
	for _, h := range s.hubList {
		if r := h.cfg.Retention; r > 0 && (period == 0 || r/4 < period) {
			period = r / 4
		}
	}
	if period == 0 {
		return
	}
	period = min(max(period, 50*time.Millisecond), time.Minute)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			for _, h := range s.hubList {
				if h.cfg.Retention == 0 {
					continue
				}
				for _, p := range h.partitions {
					if err := p.log.Expire(now); err != nil {
						s.log.Error("retention failed", "hub", h.cfg.Name, "partition", p.id, "err", err)
					}
				}
			}
		}
	}
}

func (s *Server) hub(name string) *hub { return s.hubs[strings.ToLower(name)] }
