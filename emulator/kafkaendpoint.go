package emulator

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/ehstream/ehstream/emulator/kafka"
	"github.com/ehstream/ehstream/emulator/partlog"
)

// kafkaBackend lends the Kafka endpoint the hubs' partition logs: a hub is
// a topic with the same partitions.
type kafkaBackend struct {
	s *Server
	// logs is each hub's partition logs by lower-case name, made once:
	// the hubs are fixed while the server runs, and every produce and
	// fetch asks for them per partition.
	logs map[string][]*partlog.Log
}

func newKafkaBackend(s *Server) *kafkaBackend {
	b := &kafkaBackend{s: s, logs: map[string][]*partlog.Log{}}
	for name, h := range s.hubs {
		logs := make([]*partlog.Log, len(h.partitions))
		for i, p := range h.partitions {
			logs[i] = p.log
		}
		b.logs[name] = logs
	}
	return b
}

func (b *kafkaBackend) Topics() []string {
	names := make([]string, len(b.s.hubList))
	for i, h := range b.s.hubList {
		names[i] = h.cfg.Name
	}
	return names
}

func (b *kafkaBackend) Topic(name string) ([]*partlog.Log, bool) {
	logs, ok := b.logs[strings.ToLower(name)]
	return logs, ok
}

// Appended counts a Kafka produce where an AMQP send counts.
func (b *kafkaBackend) Appended(topic string, partition int32, events, bodyBytes int) {
	b.s.stats.eventsAppended.Add(int64(events))
	if p := b.partition(topic, partition); p != nil {
		p.counters.eventsIn.Add(int64(events))
		p.counters.bytesIn.Add(int64(bodyBytes))
	}
}

// Fetched counts a Kafka fetch where an AMQP delivery counts.
func (b *kafkaBackend) Fetched(topic string, partition int32, events, bodyBytes int) {
	b.s.stats.eventsSent.Add(int64(events))
	if p := b.partition(topic, partition); p != nil {
		p.counters.eventsOut.Add(int64(events))
		p.counters.bytesOut.Add(int64(bodyBytes))
	}
}

// Throttled holds Kafka produces back while a server-busy fault covers
// the partition: the service delays a throttled Kafka produce where it
// refuses an AMQP send.
func (b *kafkaBackend) Throttled(topic string, partition int32) <-chan struct{} {
	p := b.partition(topic, partition)
	if p == nil {
		return nil
	}
	af, v := b.s.faults.act(atSend, p)
	if af == nil {
		return nil
	}
	return v.changed
}

// WriteDelay delays Kafka responses as delay-frames faults delay AMQP
// frames.
func (b *kafkaBackend) WriteDelay() time.Duration { return b.s.faults.frameDelay() }

func (b *kafkaBackend) partition(topic string, id int32) *partition {
	h := b.s.hub(topic)
	if h == nil || id < 0 || int(id) >= len(h.partitions) {
		return nil
	}
	return h.partitions[id]
}

func (b *kafkaBackend) MaxEventSize(topic string) int {
	if h := b.s.hub(topic); h != nil {
		return h.cfg.MaxEventSize
	}
	return DefaultMaxEventSize
}

// KafkaGroupsDir is where the Kafka consumer groups' committed offsets are
// kept under Config.DataDir: a hidden name, out of the way of hubs'
// directories. Kafka groups are the Kafka endpoint's own, unrelated to the
// hubs' Event Hubs consumer groups, as in the service.
const KafkaGroupsDir = ".kafka-groups"

// startKafka serves Kafka on Config.KafkaListen and, over TLS with the
// AMQP listener's certificates, on Config.KafkaTLSListen, when they are
// set; both share one consumer group coordinator.
func (s *Server) startKafka(ctx context.Context) error {
	if s.cfg.KafkaListen == "" && s.cfg.KafkaTLSListen == "" {
		return nil
	}
	groupsDir := ""
	if s.cfg.DataDir != "" {
		groupsDir = filepath.Join(s.cfg.DataDir, KafkaGroupsDir)
	}
	groups, err := kafka.OpenGroups(groupsDir)
	if err != nil {
		return fmt.Errorf("emulator: Kafka consumer groups: %w", err)
	}
	s.tr.kafkaGroups = groups
	opts := &kafka.Options{Logger: s.log.With("protocol", "kafka"), Groups: groups, Admit: s.admitKafka}
	if s.authEnabled() {
		opts.Authenticate = s.kafkaAuthenticate
	}
	backend := newKafkaBackend(s)
	var lc net.ListenConfig
	for _, l := range []struct {
		addr string
		tls  bool
		dst  **kafka.Server
	}{{s.cfg.KafkaListen, false, &s.tr.kafka}, {s.cfg.KafkaTLSListen, true, &s.tr.kafkaTLS}} {
		if l.addr == "" {
			continue
		}
		ln, err := lc.Listen(ctx, "tcp", l.addr)
		if err != nil {
			return fmt.Errorf("emulator: Kafka listen on %s: %w", l.addr, err)
		}
		if l.tls {
			ln = tls.NewListener(ln, s.cfg.TLS)
		}
		*l.dst = kafka.Serve(ln, backend, opts)
		s.log.Info("emulator listening for Kafka", "addr", ln.Addr().String(), "tls", l.tls)
	}
	return nil
}

// KafkaAddr is the address Kafka clients bootstrap from, host:port; ""
// without KafkaListen.
func (s *Server) KafkaAddr() string {
	if s.tr.kafka == nil {
		return ""
	}
	return s.tr.kafka.Addr()
}

// KafkaTLSAddr is the address Kafka clients bootstrap from over TLS,
// host:port; "" without KafkaTLSListen.
func (s *Server) KafkaTLSAddr() string {
	if s.tr.kafkaTLS == nil {
		return ""
	}
	return s.tr.kafkaTLS.Addr()
}

// kafkaStats is the Kafka listeners' counters, added up.
func (s *Server) kafkaStats() kafka.Stats {
	var sum kafka.Stats
	for _, k := range []*kafka.Server{s.tr.kafka, s.tr.kafkaTLS} {
		if k == nil {
			continue
		}
		st := k.Stats()
		if sum.Requests == nil {
			sum.Requests = map[string]int64{}
		}
		sum.OpenConnections += st.OpenConnections
		sum.Connections += st.Connections
		sum.BytesReceived += st.BytesReceived
		sum.BytesSent += st.BytesSent
		for name, n := range st.Requests {
			sum.Requests[name] += n
		}
	}
	return sum
}

// admitKafka counts a Kafka connection toward MaxConnections with the AMQP
// ones, as the service's connection quota counts every protocol; past it
// the connection is closed at once.
func (s *Server) admitKafka() (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.served >= s.cfg.MaxConnections {
		if !s.closing {
			s.stats.connectionsRefused.Add(1)
			s.refusals.log(s.log, slog.LevelWarn, "kafka connection refused: too many open", "limit", s.cfg.MaxConnections)
		}
		return nil, false
	}
	s.served++
	return func() {
		s.mu.Lock()
		s.served--
		s.mu.Unlock()
	}, true
}
