package eventhubs

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/streaming"
)

// Defaults of a Conf, as in the Spark connector.
const (
	DefaultConsumerGroup       = "$Default"
	DefaultMaxRatePerPartition = 1000
	DefaultReceiverTimeout     = 60 * time.Second
	DefaultOperationTimeout    = 60 * time.Second
	// DefaultPrefetch is how many events one receive asks the service for,
	// one receive ahead of the reader (never past the range it reads):
	// enough to keep a partition streaming at full speed, small enough
	// that 32 partitions of 1 MB events stay bounded.
	DefaultPrefetch = 1000
	// MaxPrefetch bounds SetPrefetch.
	MaxPrefetch = 10000
)

// Conf is everything the connector needs to read a hub: the
// EventHubsConf of the Spark connector. Build it with NewConf and the
// setters, which return the Conf so calls chain:
//
//	conf := eventhubs.NewConf(connStr).
//		SetConsumerGroup("audit").
//		SetStartingPosition(eventhubs.EndOfStream()).
//		SetMaxRatePerPartition(10000)
//
// A Conf signs in with a connection string (NewConf) or with an
// azcore.TokenCredential, such as Microsoft Entra ID's through azidentity
// (NewConfWithCredential).
//
// A Conf is not safe for concurrent mutation; the readers take a copy.
type Conf struct {
	connStr string
	// namespace and credential: NewConfWithCredential's; credKey is what
	// tells credentials apart in the pool (see credentialKey).
	namespace  string
	credential azcore.TokenCredential
	credKey    any
	// clientOptions: SetClientOptions's copy, never changed after, so
	// copies of the Conf share it (see clientoptions.go).
	clientOptions     *azeventhubs.ConsumerClientOptions
	name              string
	consumerGroup     string
	startingPositions map[string]EventPosition
	startingPosition  *EventPosition
	failOnDataLoss    bool
	maxRates          map[string]int64
	maxRate           int64
	receiverTimeout   time.Duration
	operationTimeout  time.Duration
	prefetch          int
	prefetches        map[string]int
	// exclusive is nil until SetExclusive: each reader then takes its own
	// default (see Exclusive).
	exclusive *bool
	logger    *slog.Logger
	// replica is the owner ID of a stream sharing partitions: replicas in
	// one process keep connections of their own, as in separate ones.
	replica string
	// backpressure and pid: see backpressure.go.
	backpressure bool
	pid          streaming.PID
	// webSockets and customEndpoint: how and where connections go.
	webSockets     bool
	customEndpoint string
	// readAhead, readAheadTotal and hubRefresh: see readahead.go.
	readAhead      int64
	readAheadTotal int64
	hubRefresh     time.Duration
}

// NewConf returns a Conf with the defaults: consumer group "$Default", start
// of stream, FailOnDataLoss on, 1000 events per partition per batch, 60 s
// timeouts, and each reader's own exclusivity (see Exclusive). Problems with the connection string are
// reported by Validate, and by every reader before it connects.
func NewConf(connectionString string) *Conf {
	c := &Conf{connStr: connectionString}
	for _, s := range settings {
		if s.init != nil {
			s.init(c)
		}
	}
	return c
}

// NewConfForHub returns NewConf(connectionString) reading eventHub, the
// connection string's EntityPath dropped: a string the portal gives for one
// hub then serves its siblings, with no conflict for Validate to report. A
// string that does not parse is kept as it is, for Validate to explain.
func NewConfForHub(connectionString, eventHub string) *Conf {
	if cs, err := ParseConnectionString(connectionString); err == nil && cs.EntityPath != "" {
		cs.EntityPath = ""
		if rebuilt, err := cs.Build(); err == nil {
			connectionString = rebuilt
		}
	}
	return NewConf(connectionString).SetEventHubName(eventHub)
}

// NewConfWithCredential returns a Conf with NewConf's defaults that signs
// in to fullyQualifiedNamespace (NAME.servicebus.windows.net, as the SDK's
// NewConsumerClient takes it) with cred, such as an azidentity credential,
// and reads eventHub. Stored positions and checkpoints name the namespace
// as a connection string to it does, so a job may move from one to the
// other. Problems with the namespace are reported by Validate.
//
// A credential cannot be written in ToMap's map form: ToMap writes the
// namespace (eventhubs.namespace) without it, and ConfFromMap refuses a
// map with a namespace, since the credential is missing.
func NewConfWithCredential(fullyQualifiedNamespace, eventHub string, cred azcore.TokenCredential) *Conf {
	c := NewConf("")
	c.namespace, c.name, c.credential, c.credKey = fullyQualifiedNamespace, eventHub, cred, credentialKey(cred)
	return c
}

// Clone returns a deep copy. The credential and the client options are
// shared, not copied.
func (c *Conf) Clone() *Conf {
	d := *c
	for _, s := range settings {
		if s.unshare != nil {
			s.unshare(&d)
		}
	}
	return &d
}

// SetEventHubName names the hub, for connection strings without EntityPath.
// With an EntityPath, the two must agree.
func (c *Conf) SetEventHubName(name string) *Conf { c.name = name; return c }

// SetConsumerGroup sets the consumer group (default "$Default").
func (c *Conf) SetConsumerGroup(group string) *Conf { c.consumerGroup = group; return c }

// SetStartingPositions sets the starting position of particular partitions,
// by partition ID; they take priority over StartingPosition.
func (c *Conf) SetStartingPositions(positions map[string]EventPosition) *Conf {
	c.startingPositions = maps.Clone(positions)
	return c
}

// SetStartingPosition sets the position of every partition that
// StartingPositions does not name (default: start of stream).
func (c *Conf) SetStartingPosition(p EventPosition) *Conf { c.startingPosition = &p; return c }

// SetFailOnDataLoss says whether a read fails when events it wants are gone
// (default true). When false, the loss is logged and counted, never silent.
func (c *Conf) SetFailOnDataLoss(fail bool) *Conf { c.failOnDataLoss = fail; return c }

// SetMaxRatesPerPartition sets the most events one batch reads from
// particular partitions, by partition ID.
func (c *Conf) SetMaxRatesPerPartition(rates map[string]int64) *Conf {
	c.maxRates = maps.Clone(rates)
	return c
}

// SetMaxRatePerPartition sets the most events one batch reads from any
// partition MaxRatesPerPartition does not name (default 1000).
func (c *Conf) SetMaxRatePerPartition(rate int64) *Conf { c.maxRate = rate; return c }

// SetReceiverTimeout bounds one receive call (default 60 s).
func (c *Conf) SetReceiverTimeout(d time.Duration) *Conf { c.receiverTimeout = d; return c }

// SetOperationTimeout bounds one operation with its retries: a management
// call, opening a receiver, or a read that makes no progress (default 60 s,
// or the connection string's OperationTimeout). A read that keeps receiving
// is never cut off, so a range of any size can be read.
func (c *Conf) SetOperationTimeout(d time.Duration) *Conf { c.operationTimeout = d; return c }

// SetPrefetch sets how many events one receive asks for, one receive ahead
// of the reader and never past the range it reads (default 1000, at most
// MaxPrefetch; the SDK takes at most 5000 at a time). A read holds at most
// three such chunks.
func (c *Conf) SetPrefetch(n int) *Conf { c.prefetch = n; return c }

// SetPrefetchPerPartition sets the prefetch of particular partitions, by
// partition ID, in place of Prefetch (each 1 to MaxPrefetch): a smaller
// one bounds what a read of a partition of large events holds, without
// slowing the others.
func (c *Conf) SetPrefetchPerPartition(prefetch map[string]int) *Conf {
	c.prefetches = maps.Clone(prefetch)
	return c
}

// SetExclusive says whether readers take their partitions exclusively, with
// owner level 0, overriding each reader's default (see Exclusive). An
// exclusive reader makes an older exclusive reader of the same consumer
// group fail with CodeOwnershipLost, and keeps readers without an owner
// level out. Without one, a reader reads beside others (at most 5 per
// partition and consumer group on Azure), and is refused while an
// exclusive reader holds the partition.
func (c *Conf) SetExclusive(exclusive bool) *Conf { c.exclusive = &exclusive; return c }

// SetWebSockets says whether connections speak AMQP over WebSockets, for
// networks that let only HTTPS out: wss:// on port 443 (ws:// to the
// development emulator, UseDevelopmentEmulator), through the proxy that
// HTTPS_PROXY (HTTP_PROXY for ws://) names unless NO_PROXY exempts the
// host, as Go's http.ProxyFromEnvironment reads them but when each
// connection is made; hosts named localhost or by a loopback address are
// never proxied. Default false: AMQP over TCP, port 5671 (5672 plain), which
// no HTTP proxy carries.
func (c *Conf) SetWebSockets(on bool) *Conf { c.webSockets = on; return c }

// SetCustomEndpoint sets where connections go, HOST or HOST:PORT, in place
// of the namespace's host: an application gateway, or a private endpoint's
// address. The client still expects the namespace at the other end: TLS
// verifies the namespace's host name, and over WebSockets the HTTP Host is
// the namespace's, as the SDK's CustomEndpoint does for AMQP. Default ""
// (the namespace's host). The port defaults to the transport's (5671, 443).
func (c *Conf) SetCustomEndpoint(hostport string) *Conf { c.customEndpoint = hostport; return c }

// SetLogger sets where warnings (such as skipped events) go; default
// slog.Default().
func (c *Conf) SetLogger(l *slog.Logger) *Conf { c.logger = l; return c }

// ConnectionString parses the connection string. A Conf that signs in
// with a credential has none, and gets an error saying so.
func (c *Conf) ConnectionString() (*ConnectionString, error) {
	if c.connStr == "" && (c.credential != nil || c.namespace != "") {
		return nil, csError("this Conf signs in with a TokenCredential (NewConfWithCredential), not a connection string")
	}
	return ParseConnectionString(c.connStr)
}

// Credential is NewConfWithCredential's credential, nil for a Conf that
// signs in with a connection string.
func (c *Conf) Credential() azcore.TokenCredential { return c.credential }

// FullyQualifiedNamespace is the namespace the Conf reads, as the SDK
// names it: NewConfWithCredential's, else the host of the connection
// string's endpoint with its port, if any (localhost:5672 for an
// emulator).
func (c *Conf) FullyQualifiedNamespace() (string, error) {
	if c.credential != nil || c.namespace != "" {
		if p := namespaceProblem(c.namespace); p != "" {
			return "", errorf(CodeInvalidConf, "namespace %s", p)
		}
		return c.namespace, nil
	}
	cs, err := c.ConnectionString()
	if err != nil {
		return "", err
	}
	return cs.Namespace(), nil
}

// NamespaceHost is FullyQualifiedNamespace without its port: what names
// the namespace in checkpoints, stored positions and jobs, so that an
// emulator may move to another port, and a connection string and a
// credential to one namespace name it alike.
func (c *Conf) NamespaceHost() (string, error) {
	ns, err := c.FullyQualifiedNamespace()
	if err != nil {
		return "", err
	}
	if host, _, err := net.SplitHostPort(ns); err == nil {
		return host, nil
	}
	return ns, nil
}

// EventHubName is SetEventHubName's name, else the connection string's
// EntityPath.
func (c *Conf) EventHubName() string {
	if c.name != "" {
		return c.name
	}
	if cs, err := c.ConnectionString(); err == nil {
		return cs.EntityPath
	}
	return ""
}

// ConsumerGroup is the consumer group.
func (c *Conf) ConsumerGroup() string { return c.consumerGroup }

// StartingPositions is a copy of the per-partition starting positions.
func (c *Conf) StartingPositions() map[string]EventPosition { return maps.Clone(c.startingPositions) }

// StartingPosition is the position for partitions StartingPositions does not
// name.
func (c *Conf) StartingPosition() EventPosition {
	if c.startingPosition != nil {
		return *c.startingPosition
	}
	return StartOfStream()
}

// PositionFor is where partition id starts: StartingPositions[id], else
// StartingPosition, else the start of the stream.
func (c *Conf) PositionFor(id string) EventPosition {
	if p, ok := c.startingPositions[id]; ok {
		return p
	}
	return c.StartingPosition()
}

// FailOnDataLoss says whether lost events fail a read.
func (c *Conf) FailOnDataLoss() bool { return c.failOnDataLoss }

// MaxRatesPerPartition is a copy of the per-partition rates.
func (c *Conf) MaxRatesPerPartition() map[string]int64 { return maps.Clone(c.maxRates) }

// MaxRatePerPartition is the rate of partitions MaxRatesPerPartition does not
// name.
func (c *Conf) MaxRatePerPartition() int64 { return c.maxRate }

// RateFor is the most events one batch reads from partition id.
func (c *Conf) RateFor(id string) int64 {
	if r, ok := c.maxRates[id]; ok {
		return r
	}
	return c.maxRate
}

// ReceiverTimeout bounds one receive call.
func (c *Conf) ReceiverTimeout() time.Duration {
	if c.receiverTimeout != 0 {
		return c.receiverTimeout
	}
	return DefaultReceiverTimeout
}

// OperationTimeout bounds one operation with its retries.
func (c *Conf) OperationTimeout() time.Duration {
	if c.operationTimeout != 0 {
		return c.operationTimeout
	}
	if cs, err := c.ConnectionString(); err == nil && cs.OperationTimeout > 0 {
		return cs.OperationTimeout
	}
	return DefaultOperationTimeout
}

// Prefetch is how many events a receiver asks for ahead of the reader, on
// partitions PrefetchPerPartition does not name.
func (c *Conf) Prefetch() int { return c.prefetch }

// PrefetchPerPartition is a copy of the per-partition prefetch.
func (c *Conf) PrefetchPerPartition() map[string]int { return maps.Clone(c.prefetches) }

// PrefetchFor is partition id's prefetch.
func (c *Conf) PrefetchFor(id string) int {
	if n, ok := c.prefetches[id]; ok {
		return n
	}
	return c.prefetch
}

// Exclusive says what SetExclusive chose, and whether it was called. When it
// was not, each reader takes its own default:
//   - a DirectStream reads exclusively (owner level 0): it is meant to be
//     its partitions' one reader in its consumer group, and a second
//     instance of the job must make the first stop, not read beside it;
//   - CreateRDD (and ResolvePositions, Lag, DescribeHub) reads without an
//     owner level: an ad-hoc read must never take a partition from a
//     running job. While a job holds the partitions of a consumer group, such
//     a read is refused with CodeOwnershipLost: read with another consumer
//     group, or SetExclusive(true) to take the partitions.
func (c *Conf) Exclusive() (exclusive, set bool) {
	if c.exclusive == nil {
		return false, false
	}
	return *c.exclusive, true
}

// exclusiveOr is SetExclusive's choice, else def, the reader's default.
func (c *Conf) exclusiveOr(def bool) bool {
	if c.exclusive == nil {
		return def
	}
	return *c.exclusive
}

// WebSockets says whether connections speak AMQP over WebSockets.
func (c *Conf) WebSockets() bool { return c.webSockets }

// CustomEndpoint is where connections go instead of the namespace's host;
// "" when they go to the namespace.
func (c *Conf) CustomEndpoint() string { return c.customEndpoint }

// Logger is where warnings go.
func (c *Conf) Logger() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

// Validate explains every bad value at once. The connection string's
// problems come first; its secrets are never printed.
func (c *Conf) Validate() error {
	var problems []string
	for _, s := range settings {
		if s.check != nil {
			problems = append(problems, s.check(c)...)
		}
	}
	switch {
	case len(problems) == 0:
		return nil
	case len(problems) > 1:
		return errorf(CodeInvalidConf, "%d problems: %s", len(problems), strings.Join(problems, "; "))
	}
	if _, err := c.ConnectionString(); err != nil && c.credential == nil && c.namespace == "" {
		return err // the one problem, with the connection string's own code
	}
	return errorf(CodeInvalidConf, "%s", problems[0])
}

// String describes the Conf with the connection string's secrets redacted.
func (c *Conf) String() string {
	var b strings.Builder
	m := c.ToMap()
	if cs, err := c.ConnectionString(); err == nil {
		m[confConnectionString] = cs.String()
	} else if _, ok := m[confConnectionString]; ok {
		m[confConnectionString] = "(invalid)"
	}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, m[k])
	}
	return b.String()
}

// ToMap writes the Conf as string keys and values ("eventhubs.consumerGroup"
// and so on), the form of a properties file, environment or flags. Per-
// partition maps are written "0=seq:5,1=latest". The map holds the
// connection string with its secret; "eventhubs.exclusive" only when
// SetExclusive was called. The logger, the client options and a
// credential are not part of it: a Conf made by NewConfWithCredential
// writes its namespace ("eventhubs.namespace") instead of a connection
// string, and ConfFromMap cannot read it back without the credential.
func (c *Conf) ToMap() map[string]string {
	m := make(map[string]string, len(settings))
	for _, s := range settings {
		if v, ok := s.format(c); ok {
			m[s.key] = v
		}
	}
	return m
}

// ConfFromMap reads what ToMap writes. Keys outside "eventhubs." are
// ignored, so the map may hold a whole program's settings; an unknown
// "eventhubs." key is an error (it is most likely a typo). Missing keys keep
// their defaults. The result is validated: a map with a namespace
// (a Conf that signed in with a credential) is refused, since no map can
// hold the credential; build such a Conf with NewConfWithCredential.
func ConfFromMap(m map[string]string) (*Conf, error) {
	c := NewConf(m[confConnectionString])
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !strings.HasPrefix(k, "eventhubs.") {
			continue
		}
		s := settingOf(k)
		if s == nil {
			problems = append(problems, fmt.Sprintf("unknown key %q", k))
			continue
		}
		if s.parse == nil {
			continue
		}
		if err := s.parse(c, strings.TrimSpace(m[k])); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q: %s", k, m[k], err))
		}
	}
	if len(problems) > 0 {
		return nil, errorf(CodeInvalidConf, "%s", strings.Join(problems, "; "))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var discardLogger = slog.New(slog.DiscardHandler)
