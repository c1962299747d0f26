package kafka

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Stats counts what the endpoint did since it started, and what is open.
type Stats struct {
	OpenConnections int64 // Kafka connections open now
	Connections     int64 // accepted
	// Requests counts request frames by API key name ("Produce", "Fetch",
	// ...; UnknownKey for a key the protocol does not have), answered or
	// not; only keys requested at least once are there.
	Requests      map[string]int64
	BytesReceived int64 // of request frames, their size prefix included
	BytesSent     int64 // of response frames, their size prefix included
}

// UnknownKey is the Requests entry of API keys the protocol does not have.
const UnknownKey = "unknown"

// serverStats is what Stats reads; the connections add to it without a
// lock.
type serverStats struct {
	open, accepted, received, sent atomic.Int64
	requests                       [kmsg.MaxKey + 2]atomic.Int64 // the last for unknown keys
}

func (st *serverStats) request(key int16, frameBytes int) {
	i := int(key)
	if i < 0 || i > kmsg.MaxKey {
		i = kmsg.MaxKey + 1
	}
	st.requests[i].Add(1)
	st.received.Add(int64(frameBytes))
}

// Stats returns the endpoint's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{OpenConnections: st.open.Load(), Connections: st.accepted.Load(), Requests: map[string]int64{},
		BytesReceived: st.received.Load(), BytesSent: st.sent.Load()}
	for i := range st.requests {
		n := st.requests[i].Load()
		if n == 0 {
			continue
		}
		name := UnknownKey
		if i <= kmsg.MaxKey {
			name = kmsg.NameForKey(int16(i))
		}
		out.Requests[name] += n
	}
	return out
}
