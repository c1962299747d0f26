package emulator

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

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

// Appended counts a Kafka produce where an AMQP send counts.
func (b kafkaBackend) Appended(topic string, partition int32, events, bodyBytes int) {
	b.s.stats.eventsAppended.Add(int64(events))
	if p := b.partition(topic, partition); p != nil {
		p.counters.eventsIn.Add(int64(events))
		p.counters.bytesIn.Add(int64(bodyBytes))
	}
}

// Fetched counts a Kafka fetch where an AMQP delivery counts.
func (b kafkaBackend) Fetched(topic string, partition int32, events, bodyBytes int) {
	b.s.stats.eventsSent.Add(int64(events))
	if p := b.partition(topic, partition); p != nil {
		p.counters.eventsOut.Add(int64(events))
		p.counters.bytesOut.Add(int64(bodyBytes))
	}
}

// Throttled holds Kafka produces back while a server-busy fault covers
// the partition: the service delays a throttled Kafka produce where it
// refuses an AMQP send.
func (b kafkaBackend) Throttled(topic string, partition int32) <-chan struct{} {
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
func (b kafkaBackend) WriteDelay() time.Duration { return b.s.faults.frameDelay() }

func (b kafkaBackend) partition(topic string, id int32) *partition {
	h, ok := b.s.hubs[strings.ToLower(topic)]
	if !ok || id < 0 || int(id) >= len(h.partitions) {
		return nil
	}
	return h.partitions[id]
}

func (b kafkaBackend) MaxEventSize(topic string) int {
	if h, ok := b.s.hubs[strings.ToLower(topic)]; ok {
		return h.cfg.MaxEventSize
	}
	return DefaultMaxEventSize
}

// startKafka serves Kafka on Config.KafkaListen, when it is set.
func (s *Server) startKafka(ctx context.Context) error {
	if s.cfg.KafkaListen == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.KafkaListen)
	if err != nil {
		return fmt.Errorf("emulator: Kafka listen on %s: %w", s.cfg.KafkaListen, err)
	}
	s.tr.kafka = kafka.Serve(ln, kafkaBackend{s}, &kafka.Options{Logger: s.log.With("protocol", "kafka")})
	s.log.Info("emulator listening for Kafka", "addr", s.KafkaAddr())
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

func (s *Server) kafkaStats() kafka.Stats {
	if s.tr.kafka == nil {
		return kafka.Stats{}
	}
	return s.tr.kafka.Stats()
}
