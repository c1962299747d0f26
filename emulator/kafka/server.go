package kafka

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ehstream/ehstream/emulator/partlog"
)

// Backend is what the emulator lends the endpoint: its hubs, each a topic
// whose partitions are the hub's logs (index = partition id).
type Backend interface {
	// Topics lists the hubs' names in configuration order.
	Topics() []string
	// Topic returns a hub's partition logs; false when there is no such hub.
	Topic(name string) ([]*partlog.Log, bool)
	// MaxEventSize is the largest record, in bytes, a producer may append
	// to a hub (one of Topics).
	MaxEventSize(topic string) int
	// Appended and Fetched are told of the events a produce appended to
	// a partition and a fetch answered with (bodyBytes: of their values),
	// so that they count where AMQP sends and deliveries count.
	Appended(topic string, partition int32, events, bodyBytes int)
	Fetched(topic string, partition int32, events, bodyBytes int)
	// Throttled says whether produces to a partition are held back now (a
	// server-busy fault): nil when not, else a channel closed when that
	// may have changed. WriteDelay is how long each response waits before
	// it is written (a delay-frames fault), 0 for none.
	Throttled(topic string, partition int32) <-chan struct{}
	WriteDelay() time.Duration
}

// Options configures Serve; nil means the defaults.
type Options struct {
	// Logger receives connection errors; nil means slog.Default().
	Logger *slog.Logger
	// Groups is the Kafka consumer groups' coordinator, shared by the
	// emulator's Kafka listeners and closed by its owner; nil means one of
	// this Server's own, in memory, closed by Close.
	Groups *Groups
	// Authenticate checks the user name and password of SASL PLAIN and
	// says what they allow; its error, which the client is shown, says why
	// not and names no secret. With it, a connection must authenticate
	// before anything but ApiVersions. Nil means development mode: SASL is
	// optional, and any password is accepted.
	Authenticate func(user, password string) (Access, error)
	// IdleTimeout closes a connection that sends no request for this
	// long, as the service closes inbound connections idle for 240 s
	// (clients reconnect; its guide asks them to close theirs after
	// 180 s). It also bounds a TLS handshake and a first request. 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Admit is asked before a new connection is served: false closes it at
	// once (a connection limit reached; the Kafka protocol has no way to
	// say why before a request), else release is called when it ends. Nil
	// admits every connection.
	Admit func() (release func(), ok bool)
}

// DefaultIdleTimeout is Options.IdleTimeout's default: the service's.
const DefaultIdleTimeout = 240 * time.Second

// Server serves Kafka clients on one listener.
type Server struct {
	ln         net.Listener
	backend    Backend
	groups     *Groups
	producers  *producers
	ownsGroups bool
	log        *slog.Logger
	stop       chan struct{}
	wg         sync.WaitGroup
	// fetchWait bounds a fetch's wait (maxFetchWait); tests shorten it.
	fetchWait time.Duration
	idle      time.Duration // Options.IdleTimeout

	authenticate func(user, password string) (Access, error) // nil: development mode
	admit        func() (release func(), ok bool)            // nil: no limit

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}

	stats serverStats
}

// Serve accepts Kafka connections on ln until Close.
func Serve(ln net.Listener, b Backend, opts *Options) *Server {
	s := newServer(ln, b, opts)
	s.start()
	return s
}

func newServer(ln net.Listener, b Backend, opts *Options) *Server {
	s := &Server{ln: ln, backend: b, log: slog.Default(), stop: make(chan struct{}), conns: map[net.Conn]struct{}{}, fetchWait: maxFetchWait}
	if opts != nil && opts.Logger != nil {
		s.log = opts.Logger
	}
	s.producers = newProducers()
	if opts != nil && opts.Groups != nil {
		s.groups = opts.Groups
	} else {
		s.groups, _ = OpenGroups("") // in memory: cannot fail
		s.ownsGroups = true
	}
	s.idle = DefaultIdleTimeout
	if opts != nil {
		s.authenticate, s.admit = opts.Authenticate, opts.Admit
		if opts.IdleTimeout > 0 {
			s.idle = opts.IdleTimeout
		}
	}
	return s
}

func (s *Server) start() {
	s.wg.Add(1)
	go s.acceptLoop()
}

// Addr is the address clients connect to, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("kafka accept failed", "err", err)
			}
			return
		}
		release := func() {}
		if s.admit != nil {
			var ok bool
			if release, ok = s.admit(); !ok {
				nc.Close()
				continue
			}
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.stats.accepted.Add(1)
		s.stats.open.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer release()
			newConn(s, nc).serve()
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
			nc.Close()
			s.stats.open.Add(-1)
		}()
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	close(s.stop)
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.mu.Lock()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.ownsGroups {
		s.groups.Close()
	}
	return err
}

// partitionLog is a topic's partition log; nil when there is no such topic
// or partition.
func (s *Server) partitionLog(topic string, p int32) *partlog.Log {
	logs, ok := s.backend.Topic(topic)
	if !ok || p < 0 || int(p) >= len(logs) {
		return nil
	}
	return logs[p]
}
