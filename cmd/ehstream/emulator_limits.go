package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"

	"github.com/dustin/go-humanize"
	"github.com/ehstream/ehstream/emulator"
)

// limitFlags are the emulator's bounds on memory, connections, sessions
// and links; emulator.Config documents each.
type limitFlags struct {
	inFlight, linkInFlight                     byteSize
	connections, sessionsPerConn, linksPerConn positiveInt
}

func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	l := &limitFlags{
		inFlight: emulator.DefaultMaxInFlightBytes, linkInFlight: emulator.DefaultMaxLinkInFlightBytes,
		connections: emulator.DefaultMaxConnections, sessionsPerConn: emulator.DefaultMaxSessionsPerConnection,
		linksPerConn: emulator.DefaultMaxLinksPerConnection,
	}
	fs.Var(&l.inFlight, "max-inflight-bytes", "the most `bytes` of events the emulator holds between reading and storing them, over all clients (such as 64MiB); senders get credit within it, and a send that finds it full waits for room, holding up its connection, and is refused as server-busy (which the SDKs retry) if none comes within a second")
	fs.Var(&l.linkInFlight, "max-link-inflight-bytes", "the most `bytes` the emulator holds the same way per producer link, and never less than the hub's largest event")
	fs.Var(&l.connections, "max-connections", "the most `connections` open at once; the next is closed with amqp:resource-limit-exceeded")
	fs.Var(&l.sessionsPerConn, "max-sessions-per-connection", "the most `sessions` on one connection; the next is ended with amqp:resource-limit-exceeded")
	fs.Var(&l.linksPerConn, "max-links-per-connection", "the most `links` on one connection; the next is refused with amqp:resource-limit-exceeded")
	return l
}

func (l *limitFlags) apply(cfg *emulator.Config) {
	cfg.MaxInFlightBytes, cfg.MaxLinkInFlightBytes = int64(l.inFlight), int64(l.linkInFlight)
	cfg.MaxConnections, cfg.MaxSessionsPerConnection, cfg.MaxLinksPerConnection = int(l.connections), int(l.sessionsPerConn), int(l.linksPerConn)
}

// byteSize is a flag of a size in bytes: 64MiB, 512KB, 1048576.
type byteSize int64

func (b *byteSize) String() string { return humanize.IBytes(uint64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return fmt.Errorf("%q is not a size: write it as 64MiB, 512KB or 1048576", s)
	}
	if n == 0 || n > math.MaxInt64 {
		return fmt.Errorf("%q: want a size above 0", s)
	}
	*b = byteSize(n)
	return nil
}

// positiveInt is a flag of a count above 0.
type positiveInt int

func (p *positiveInt) String() string { return strconv.Itoa(int(*p)) }

func (p *positiveInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q: want a whole number above 0", s)
	}
	*p = positiveInt(n)
	return nil
}
