package emulator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/ehstream/ehstream/emulator/kafka"
	"github.com/ehstream/ehstream/emulator/partlog"
)

// kafkaBackend lends the Kafka endpoint the hubs' partition logs: a hub is
// a topic with the same partitions.
type kafkaBackend struct{ s *Server }

func (b kafkaBackend) Topics() []string {
	names := make([]string, len(b.s.hubList))
	for i, h := range b.s.hubList {
		names[i] = h.cfg.Name
	}
	return names
}

func (b kafkaBackend) Topic(name string) ([]*partlog.Log, bool) {
	h, ok := b.s.hubs[strings.ToLower(name)]
	if !ok {
		return nil, false
	}
	logs := make([]*partlog.Log, len(h.partitions))
	for i, p := range h.partitions {
		logs[i] = p.log
	}
	return logs, true
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
	opts := &kafka.Options{Logger: s.log.With("protocol", "kafka"), Groups: groups}
	if s.authEnabled() {
		opts.Authenticate = s.kafkaAuthenticate
	}
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
		*l.dst = kafka.Serve(ln, kafkaBackend{s}, opts)
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
