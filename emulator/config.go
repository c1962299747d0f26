package emulator

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Limits and defaults of the emulator.
const (
	DefaultMaxEventSize = 1 << 20
	MaxPartitions       = 1024
	DefaultNamespace    = "emulatorNs1"
	DefaultWriteTimeout = 30 * time.Second

	// DefaultMaxInFlightBytes bounds what every client together can make
	// the emulator hold between reading events and storing them. 64 MiB:
	// with the garbage collector's slack (the heap may reach twice what is
	// live) and the runtime, a busy emulator stays within some 200 MiB,
	// which a 2-core laptop affords beside what it runs.
	DefaultMaxInFlightBytes = 64 << 20
	// DefaultMaxLinkInFlightBytes bounds it per producer link: half of
	// the whole, 32 deliveries of 1 MiB, what a link that sends as fast as
	// it can needs in flight to keep its partition log busy (three such
	// links store 1 MiB events at some 530 MiB/s with it, 240 MiB/s with 8
	// MiB); two of them fill the server's budget, which then holds back
	// the others.
	DefaultMaxLinkInFlightBytes = 32 << 20
	// DefaultMaxConnections is a fifth of the 5000 connections a Standard
	// namespace allows: each costs some 100 KiB of buffers when idle and up
	// to a few MiB when busy.
	DefaultMaxConnections = 1000
	// DefaultMaxSessionsPerConnection and DefaultMaxLinksPerConnection are
	// twice what a client that reads or writes every partition of the
	// largest hub (1024 partitions, with a session and a link each, as the
	// SDKs open them) needs. The service allows 4999 links.
	DefaultMaxSessionsPerConnection = 2048
	DefaultMaxLinksPerConnection    = 2048
)

// Config says what the emulator serves and where it keeps its data. The zero
// value serves the default hub on a free loopback port, in memory.
type Config struct {
	// Listen is the TCP address for AMQP; "" means 127.0.0.1:0 (a free port).
	Listen string
	// TLS, when set, serves AMQP over TLS on TLSListen, and WebSockets over
	// TLS, with its certificates; nil serves no TLS. SelfSignedTLS makes a
	// CA and a certificate signed by it.
	TLS *tls.Config
	// TLSListen is the TCP address for AMQP over TLS (amqps); "" means
	// 127.0.0.1:0. Only with TLS.
	TLSListen string
	// WebSocketListen, when set, serves AMQP over WebSockets on this TCP
	// address (path /$servicebus/websocket, subprotocol AMQPWSB10): over TLS
	// (wss) when TLS is set, plain (ws) otherwise.
	WebSocketListen string
	// KafkaListen, when set, serves the Kafka protocol on this TCP address
	// (package emulator/kafka), over the same partition logs as AMQP.
	KafkaListen string
	// KafkaTLSListen, when set, serves the Kafka protocol over TLS on this
	// TCP address, with TLS's certificates (as Event Hubs on 9093). Only
	// with TLS.
	KafkaTLSListen string
	// WebSocketOrigins are the Origin host patterns (path.Match syntax,
	// such as "localhost:*") of web pages allowed to connect over
	// WebSockets, besides the emulator's own host; clients outside browsers
	// send no Origin and are always allowed.
	WebSocketOrigins []string
	// HostNames are names clients reach the emulator by, besides loopback
	// names and addresses, its listeners' hosts and the names of its TLS
	// certificate: a token must be for a resource on one of them, and an
	// HTTP request (WebSockets, and the handlers of FaultsHandler and
	// package emulatorhttp) must name one in its Host.
	HostNames []string
	// DataDir holds the partition logs; "" keeps everything in memory.
	DataDir string
	// Repair starts even when a partition log is damaged beyond a torn
	// tail (which is always cut): the damaged segment file and every older
	// one move to the partition's "damaged" directory, nothing is deleted,
	// and the partition starts after them. Without it Start fails with a
	// *partlog.CorruptError naming the file and the byte.
	Repair bool
	// Namespace names the namespace in connection strings and logs.
	Namespace string
	// Hubs to serve; nil means DefaultHubs().
	Hubs []HubConfig
	// Logger receives connection and error logs; nil discards them.
	Logger *slog.Logger
	// WriteTimeout is how long a client may take to read what the emulator
	// writes to it; a connection whose client reads nothing for that long
	// is closed. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SASPolicies, when any, make the emulator check every token and link
	// as Event Hubs does (auth.go); without them any key is accepted.
	SASPolicies []SASPolicy
	// JWTKeys, when set, make the emulator take Microsoft Entra ID's JWT
	// bearer tokens signed by these keys (jwt.go), and check every token
	// and link as with SASPolicies; LoadJWKS reads them from a file.
	JWTKeys *JWTKeySet
	// JWTRoles give the principals of JWT bearer tokens their rights, as
	// role assignments on the namespace do; a principal without one is
	// refused.
	JWTRoles []JWTRole
	// Insecure allows listening on an address other than loopback without
	// TLS or without a SAS policy or JWT keys, which Start otherwise
	// refuses.
	Insecure bool

	// MaxInFlightBytes bounds the bytes of deliveries the emulator holds,
	// summed over every link, from their first frame until they are
	// stored: one being read counts as the most it may grow to, so one that
	// never ends counts too. Producer links get credit within it; a
	// delivery that finds it full waits for room, and with it the
	// connection it comes on, and is refused with com.microsoft:server-busy
	// (which the SDKs retry) if none comes within a second. It must hold
	// at least one event of every hub's maximum size. 0 means
	// DefaultMaxInFlightBytes (64 MiB).
	MaxInFlightBytes int64
	// MaxLinkInFlightBytes bounds the same per producer link, and never
	// below the hub's maximum event size; the link's credit is what fits
	// in it. 0 means DefaultMaxLinkInFlightBytes (32 MiB).
	MaxLinkInFlightBytes int64
	// MaxConnections bounds the connections open at once, over every
	// transport, Kafka's too; the next AMQP one is closed with
	// amqp:resource-limit-exceeded after its handshake, the next Kafka one
	// at once. 0 means DefaultMaxConnections (1000).
	MaxConnections int
	// MaxSessionsPerConnection bounds the sessions of a connection; the
	// next begin is answered with an end carrying
	// amqp:resource-limit-exceeded. 0 means
	// DefaultMaxSessionsPerConnection (2048).
	MaxSessionsPerConnection int
	// MaxLinksPerConnection bounds the links of a connection, over its
	// sessions; the next attach is refused with
	// amqp:resource-limit-exceeded. 0 means DefaultMaxLinksPerConnection
	// (2048).
	MaxLinksPerConnection int
}

// HubConfig describes one event hub.
type HubConfig struct {
	Name           string
	PartitionCount int
	// ConsumerGroups besides "$Default", which always exists.
	ConsumerGroups []string
	// Retention is how long events are kept; 0 keeps them forever.
	Retention time.Duration
	// MaxEventSize is the largest message (a batch counts as one) a
	// producer may send; 0 means DefaultMaxEventSize.
	MaxEventSize int
}

// DefaultHubs is what Microsoft's sample configuration serves: hub "eh1" with
// two partitions and consumer group "cg1".
func DefaultHubs() []HubConfig {
	return []HubConfig{{Name: "eh1", PartitionCount: 2, ConsumerGroups: []string{"cg1"}}}
}

func (c *Config) withDefaults() Config {
	out := Config{}
	if c != nil {
		out = *c
	}
	if out.Listen == "" {
		out.Listen = "127.0.0.1:0"
	}
	if out.Namespace == "" {
		out.Namespace = DefaultNamespace
	}
	if out.Hubs == nil {
		out.Hubs = DefaultHubs()
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.WriteTimeout == 0 {
		out.WriteTimeout = DefaultWriteTimeout
	}
	if out.MaxInFlightBytes == 0 {
		out.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if out.MaxLinkInFlightBytes == 0 {
		out.MaxLinkInFlightBytes = DefaultMaxLinkInFlightBytes
	}
	if out.MaxConnections == 0 {
		out.MaxConnections = DefaultMaxConnections
	}
	if out.MaxSessionsPerConnection == 0 {
		out.MaxSessionsPerConnection = DefaultMaxSessionsPerConnection
	}
	if out.MaxLinksPerConnection == 0 {
		out.MaxLinksPerConnection = DefaultMaxLinksPerConnection
	}
	return out
}

// validateLimits explains the first bad limit on memory, connections,
// sessions or links.
func validateLimits(c *Config) error {
	for _, l := range []struct {
		name string
		v    int64
	}{
		{"MaxInFlightBytes", c.MaxInFlightBytes}, {"MaxLinkInFlightBytes", c.MaxLinkInFlightBytes},
		{"MaxConnections", int64(c.MaxConnections)}, {"MaxSessionsPerConnection", int64(c.MaxSessionsPerConnection)},
		{"MaxLinksPerConnection", int64(c.MaxLinksPerConnection)},
	} {
		if l.v < 0 {
			return fmt.Errorf("emulator config: %s %d is negative; 0 means the default", l.name, l.v)
		}
	}
	for _, h := range c.Hubs {
		if size := int64(maxEventSize(h)); size > c.MaxInFlightBytes {
			return fmt.Errorf("emulator config: MaxInFlightBytes (--max-inflight-bytes) %d is smaller than hub %q's largest event (%d bytes), which could then never be taken: raise it to at least %d",
				c.MaxInFlightBytes, h.Name, size, size)
		}
	}
	return nil
}

// maxEventSize is a hub's largest event, its default applied.
func maxEventSize(h HubConfig) int {
	if h.MaxEventSize == 0 {
		return DefaultMaxEventSize
	}
	return h.MaxEventSize
}

// Validate explains the first bad value in c.
func (c *Config) Validate() error {
	cfg := c.withDefaults()
	if len(cfg.Hubs) == 0 {
		return fmt.Errorf("emulator config: no event hubs configured")
	}
	if cfg.WriteTimeout < 0 {
		return fmt.Errorf("emulator config: write timeout %s is negative", cfg.WriteTimeout)
	}
	if err := validateTransport(&cfg); err != nil {
		return err
	}
	if err := validateLimits(&cfg); err != nil {
		return err
	}
	if err := validateSASPolicies(cfg.SASPolicies); err != nil {
		return err
	}
	if err := validateJWT(&cfg); err != nil {
		return err
	}
	for _, n := range cfg.HostNames {
		if err := CheckHostName(n); err != nil {
			return fmt.Errorf("emulator config: HostNames: %w", err)
		}
	}
	seen := map[string]bool{}
	for i, h := range cfg.Hubs {
		if err := validHubName(h.Name); err != nil {
			return fmt.Errorf("emulator config: hub %d: %w", i, err)
		}
		key := strings.ToLower(h.Name)
		if seen[key] {
			return fmt.Errorf("emulator config: hub %q is configured twice", h.Name)
		}
		seen[key] = true
		if h.PartitionCount < 1 || h.PartitionCount > MaxPartitions {
			return fmt.Errorf("emulator config: hub %q: partition count %d is not between 1 and %d", h.Name, h.PartitionCount, MaxPartitions)
		}
		if h.Retention < 0 {
			return fmt.Errorf("emulator config: hub %q: retention %s is negative", h.Name, h.Retention)
		}
		if h.MaxEventSize < 0 {
			return fmt.Errorf("emulator config: hub %q: maximum event size %d is negative", h.Name, h.MaxEventSize)
		}
		groups := map[string]bool{"$default": true}
		for _, g := range h.ConsumerGroups {
			if err := validName(g); err != nil {
				return fmt.Errorf("emulator config: hub %q: consumer group: %w", h.Name, err)
			}
			if groups[strings.ToLower(g)] && !strings.EqualFold(g, "$Default") {
				return fmt.Errorf("emulator config: hub %q: consumer group %q is configured twice", h.Name, g)
			}
			groups[strings.ToLower(g)] = true
		}
	}
	return nil
}

// validHubName is validName with the service's rule for hub names: a
// letter or digit first and last. It also keeps hub directories apart from
// the data directory's own, which start with '.' (KafkaGroupsDir).
func validHubName(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	isAlnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' }
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return fmt.Errorf("hub name %q must start and end with a letter or digit, as Event Hubs requires", name)
	}
	return nil
}

// validName accepts what Event Hubs accepts in hub and group names, and
// refuses what would break paths on disk or link addresses.
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > 256 {
		return fmt.Errorf("name %.20q... is longer than 256 characters", name)
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || r == '.' || r == '$' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("name %q has the character %q; use letters, digits, '-', '_', '.'", name, r)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("name %q is not allowed", name)
	}
	return nil
}

// Microsoft's emulator Config.json, plus the optional fields ehstream adds
// per entity: "RetentionPeriod" (a Go duration such as "2s" or "24h") and
// "MaxEventSize" (bytes).
type msConfig struct {
	UserConfig struct {
		NamespaceConfig []struct {
			Type     string
			Name     string
			Entities []struct {
				Name            string
				PartitionCount  json.RawMessage
				ConsumerGroups  []struct{ Name string }
				RetentionPeriod string
				MaxEventSize    int
			}
		}
	}
}

// LoadConfigFile reads a Microsoft emulator Config.json into hubs and the
// namespace name.
func LoadConfigFile(path string) (namespace string, hubs []HubConfig, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("emulator config: %w", err)
	}
	namespace, hubs, err = ParseConfigJSON(data)
	if err != nil {
		return "", nil, fmt.Errorf("emulator config %s: %w", path, err)
	}
	return namespace, hubs, nil
}

// loadFile reads the file at path and parses it; errors say what it is
// ("emulator: JWT keys"), and name the file when parsing fails (a failed
// read's error names it already).
func loadFile[T any](path, what string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return v, nil
}

// ParseConfigJSON parses the contents of a Microsoft emulator Config.json.
func ParseConfigJSON(data []byte) (namespace string, hubs []HubConfig, err error) {
	var mc msConfig
	if err := json.Unmarshal(data, &mc); err != nil {
		return "", nil, fmt.Errorf("not valid JSON: %w", err)
	}
	nss := mc.UserConfig.NamespaceConfig
	if len(nss) == 0 {
		return "", nil, fmt.Errorf("UserConfig.NamespaceConfig is empty: configure one namespace with its Entities")
	}
	if len(nss) > 1 {
		return "", nil, fmt.Errorf("UserConfig.NamespaceConfig has %d namespaces; the emulator serves one", len(nss))
	}
	ns := nss[0]
	if ns.Type != "" && !strings.EqualFold(ns.Type, "EventHub") {
		return "", nil, fmt.Errorf("namespace %q has Type %q; only EventHub is supported", ns.Name, ns.Type)
	}
	for i, e := range ns.Entities {
		h := HubConfig{Name: e.Name, MaxEventSize: e.MaxEventSize}
		if h.PartitionCount, err = parseCount(e.PartitionCount); err != nil {
			return "", nil, fmt.Errorf("entity %d (%q): PartitionCount: %w", i, e.Name, err)
		}
		for _, g := range e.ConsumerGroups {
			if !strings.EqualFold(g.Name, "$Default") {
				h.ConsumerGroups = append(h.ConsumerGroups, g.Name)
			}
		}
		if e.RetentionPeriod != "" {
			if h.Retention, err = time.ParseDuration(e.RetentionPeriod); err != nil {
				return "", nil, fmt.Errorf("entity %q: RetentionPeriod %q is not a duration like \"2s\" or \"24h\"", e.Name, e.RetentionPeriod)
			}
		}
		hubs = append(hubs, h)
	}
	cfg := Config{Hubs: hubs}
	if len(hubs) == 0 {
		return "", nil, fmt.Errorf("namespace %q has no Entities", ns.Name)
	}
	if err := cfg.Validate(); err != nil {
		return "", nil, err
	}
	return ns.Name, hubs, nil
}

// parseCount accepts a number or a string holding one, as Microsoft's
// samples use both.
func parseCount(raw json.RawMessage) (int, error) {
	if len(raw) == 0 {
		return 0, fmt.Errorf("missing")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s is neither a number nor a string", raw)
	}
	v, err := strconv.Atoi(n.String())
	if err != nil {
		return 0, fmt.Errorf("%s is not a whole number", n)
	}
	return v, nil
}
