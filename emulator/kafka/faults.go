package kafka

import (
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The emulator's faults reach Kafka clients through the Backend's hooks
// (Throttled, WriteDelay) and Conns; this package keeps no faults of its
// own.

// waitThrottled holds a produce to a partition while the backend throttles
// it, as the service holds a throttled Kafka produce rather than refuse
// it, until deadline (the request's timeout): nil when the produce may go
// on, else POLICY_VIOLATION, the service's answer to a produce throttled
// past its timeout (its Kafka troubleshooting guide, "Server Busy"); and
// how long it held the produce.
func (c *conn) waitThrottled(topic string, partition int32, deadline time.Time) (time.Duration, error) {
	start := time.Now()
	for {
		changed := c.srv.backend.Throttled(topic, partition)
		if changed == nil {
			return time.Since(start), nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return time.Since(start), fmt.Errorf("kafka: a produce to %s/%d was throttled past its timeout: %w", topic, partition, kerr.PolicyViolation)
		}
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-c.srv.stop:
			t.Stop()
			return time.Since(start), fmt.Errorf("kafka: the server closed while a produce was throttled: %w", kerr.PolicyViolation)
		}
		t.Stop()
	}
}

// delayWrite waits out the delay the backend puts on writes before a
// response goes out; a closing server writes at once.
func (c *conn) delayWrite() {
	if d := c.srv.backend.WriteDelay(); d > 0 {
		select {
		case <-time.After(d):
		case <-c.srv.stop:
		}
	}
}

// Conns lists the connections open now, for a fault that resets them:
// closing one ends its goroutine as a client's going away does.
func (s *Server) Conns() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Conn, 0, len(s.conns))
	for nc := range s.conns {
		out = append(out, nc)
	}
	return out
}
