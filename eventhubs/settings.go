package eventhubs

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// The keys of a Conf's map form.
const (
	confConnectionString     = "eventhubs.connectionString"
	confNamespace            = "eventhubs.namespace"
	confName                 = "eventhubs.name"
	confConsumerGroup        = "eventhubs.consumerGroup"
	confStartingPositions    = "eventhubs.startingPositions"
	confStartingPosition     = "eventhubs.startingPosition"
	confFailOnDataLoss       = "eventhubs.failOnDataLoss"
	confMaxRatesPerPartition = "eventhubs.maxRatesPerPartition"
	confMaxRatePerPartition  = "eventhubs.maxRatePerPartition"
	confReceiverTimeout      = "eventhubs.receiverTimeout"
	confOperationTimeout     = "eventhubs.operationTimeout"
	confPrefetch             = "eventhubs.prefetch"
	confPrefetchPerPartition = "eventhubs.prefetchPerPartition"
	confExclusive            = "eventhubs.exclusive"
	confBackpressure         = "eventhubs.backpressure.enabled"
	confPIDProportional      = "eventhubs.backpressure.pid.proportional"
	confPIDIntegral          = "eventhubs.backpressure.pid.integral"
	confPIDDerivative        = "eventhubs.backpressure.pid.derivative"
	confPIDMinRate           = "eventhubs.backpressure.pid.minRate"
	confWebSockets           = "eventhubs.webSockets"
	confCustomEndpoint       = "eventhubs.customEndpoint"
	confReadAhead            = "eventhubs.readAhead.bytesPerPartition"
	confReadAheadTotal       = "eventhubs.readAhead.totalBytes"
	confHubRefresh           = "eventhubs.hubRefreshInterval"
)

// setting is one row of the settings table: a Conf setting, its key in the
// map form, its default, and how it is copied, written, read and checked.
// NewConf, Clone, ToMap, ConfFromMap and Validate go over the rows, so a
// new setting is a Conf field, its setter and getter, and a row.
type setting struct {
	key string
	// init sets the default in a new Conf; nil when the zero value is it.
	init func(c *Conf)
	// unshare gives a copy of a Conf (Clone) its own copy of a value held
	// by reference, a map or a pointer; nil for a value held in the field.
	unshare func(c *Conf)
	// format writes c's value in the map form; false leaves the key out:
	// the setting is unset, and each reader takes its own default.
	format func(c *Conf) (string, bool)
	// parse reads the map form's value, trimmed, into c; its error says
	// what is wrong with the value, which ConfFromMap names with the key
	// (and then drops c, however parse left it). nil: the value is
	// NewConf's argument.
	parse func(c *Conf, v string) error
	// check says what is wrong with c's value, for Validate; nil when
	// every value is good.
	check func(c *Conf) []string
}

// settings is the settings table, in the order Validate lists problems.
var settings = []setting{
	{key: confConnectionString, check: (*Conf).connectionProblems,
		format: func(c *Conf) (string, bool) { return c.connStr, c.namespace == "" }},
	{key: confNamespace, // checked with the connection string: a Conf has one or the other
		format: func(c *Conf) (string, bool) { return c.namespace, c.namespace != "" },
		parse:  func(c *Conf, v string) error { c.namespace = v; return nil }},
	{key: confName, // checked with the connection string's EntityPath
		format: func(c *Conf) (string, bool) { return c.name, c.name != "" },
		parse:  func(c *Conf, v string) error { c.name = v; return nil }},
	{key: confConsumerGroup, init: func(c *Conf) { c.consumerGroup = DefaultConsumerGroup },
		format: func(c *Conf) (string, bool) { return c.consumerGroup, true },
		parse:  func(c *Conf, v string) error { c.consumerGroup = v; return nil },
		check: func(c *Conf) []string {
			if strings.TrimSpace(c.consumerGroup) == "" {
				return []string{"the consumer group is empty"}
			}
			return nil
		}},
	{key: confStartingPositions, unshare: func(c *Conf) { c.startingPositions = maps.Clone(c.startingPositions) },
		format: func(c *Conf) (string, bool) {
			return joinPartitionMap(c.startingPositions, EventPosition.String), len(c.startingPositions) > 0
		},
		parse: func(c *Conf, v string) (err error) {
			c.startingPositions, err = splitPartitionMap(v, parsePosition)
			return err
		},
		check: func(c *Conf) []string {
			return partitionProblems("StartingPositions", c.startingPositions, positionProblem)
		}},
	{key: confStartingPosition, unshare: func(c *Conf) { c.startingPosition = copyOf(c.startingPosition) },
		format: func(c *Conf) (string, bool) { return c.StartingPosition().String(), true },
		parse: func(c *Conf, v string) error {
			p, err := parsePosition(v)
			c.startingPosition = &p
			return err
		},
		check: func(c *Conf) []string {
			if c.startingPosition == nil {
				return nil
			}
			return named("StartingPosition", positionProblem(*c.startingPosition))
		}},
	{key: confFailOnDataLoss, init: func(c *Conf) { c.failOnDataLoss = true },
		format: func(c *Conf) (string, bool) { return strconv.FormatBool(c.failOnDataLoss), true },
		parse:  func(c *Conf, v string) (err error) { c.failOnDataLoss, err = parseBool(v); return err }},
	{key: confMaxRatesPerPartition, unshare: func(c *Conf) { c.maxRates = maps.Clone(c.maxRates) },
		format: func(c *Conf) (string, bool) { return joinPartitionMap(c.maxRates, formatInt), len(c.maxRates) > 0 },
		parse: func(c *Conf, v string) (err error) {
			c.maxRates, err = splitPartitionMap(v, eventCount)
			return err
		},
		check: func(c *Conf) []string { return partitionProblems("MaxRatesPerPartition", c.maxRates, rateProblem) }},
	{key: confMaxRatePerPartition, init: func(c *Conf) { c.maxRate = DefaultMaxRatePerPartition },
		format: func(c *Conf) (string, bool) { return formatInt(c.maxRate), true },
		parse:  func(c *Conf, v string) (err error) { c.maxRate, err = parseCount(v); return err },
		check:  func(c *Conf) []string { return named("MaxRatePerPartition", rateProblem(c.maxRate)) }},
	{key: confReceiverTimeout,
		format: func(c *Conf) (string, bool) { return c.ReceiverTimeout().String(), true },
		parse:  func(c *Conf, v string) (err error) { c.receiverTimeout, err = parseTimeout(v); return err },
		check:  func(c *Conf) []string { return named("ReceiverTimeout", timeoutProblem(c.receiverTimeout)) }},
	{key: confOperationTimeout,
		format: func(c *Conf) (string, bool) { return c.OperationTimeout().String(), true },
		parse:  func(c *Conf, v string) (err error) { c.operationTimeout, err = parseTimeout(v); return err },
		check:  func(c *Conf) []string { return named("OperationTimeout", timeoutProblem(c.operationTimeout)) }},
	{key: confPrefetch, init: func(c *Conf) { c.prefetch = DefaultPrefetch },
		format: func(c *Conf) (string, bool) { return strconv.Itoa(c.prefetch), true },
		parse: func(c *Conf, v string) error {
			n, err := parseCount(v)
			c.prefetch = int(n)
			return err
		},
		check: func(c *Conf) []string { return named("Prefetch", prefetchProblem(c.prefetch)) }},
	{key: confPrefetchPerPartition, unshare: func(c *Conf) { c.prefetches = maps.Clone(c.prefetches) },
		format: func(c *Conf) (string, bool) {
			return joinPartitionMap(c.prefetches, strconv.Itoa), len(c.prefetches) > 0
		},
		parse: func(c *Conf, v string) (err error) {
			c.prefetches, err = splitPartitionMap(v, func(v string) (int, error) { n, err := eventCount(v); return int(n), err })
			return err
		},
		check: func(c *Conf) []string {
			return partitionProblems("PrefetchPerPartition", c.prefetches, prefetchProblem)
		}},
	{key: confExclusive, unshare: func(c *Conf) { c.exclusive = copyOf(c.exclusive) },
		format: func(c *Conf) (string, bool) {
			if c.exclusive == nil {
				return "", false // each reader's default
			}
			return strconv.FormatBool(*c.exclusive), true
		},
		parse: func(c *Conf, v string) error {
			b, err := parseBool(v)
			c.exclusive = &b
			return err
		}},
	{key: confBackpressure,
		format: func(c *Conf) (string, bool) { return strconv.FormatBool(c.backpressure), true },
		parse:  func(c *Conf, v string) (err error) { c.backpressure, err = parseBool(v); return err }},
	pidSetting(confPIDProportional, "proportional", func(p *streaming.PID) *float64 { return &p.Proportional }, gainProblem),
	pidSetting(confPIDIntegral, "integral", func(p *streaming.PID) *float64 { return &p.Integral }, gainProblem),
	pidSetting(confPIDDerivative, "derivative", func(p *streaming.PID) *float64 { return &p.Derivative }, gainProblem),
	pidSetting(confPIDMinRate, "minRate", func(p *streaming.PID) *float64 { return &p.MinRate }, minRateProblem),
	{key: confReadAhead, init: func(c *Conf) { c.readAhead = DefaultReadAhead },
		format: func(c *Conf) (string, bool) { return formatInt(c.readAhead), c.readAhead != DefaultReadAhead },
		parse:  func(c *Conf, v string) (err error) { c.readAhead, err = parseBytes(v); return err },
		check:  func(c *Conf) []string { return named("ReadAhead", bytesProblem(c.readAhead, 0)) }},
	{key: confReadAheadTotal, init: func(c *Conf) { c.readAheadTotal = DefaultReadAheadTotal },
		format: func(c *Conf) (string, bool) { return formatInt(c.readAheadTotal), true },
		parse:  func(c *Conf, v string) (err error) { c.readAheadTotal, err = parseBytes(v); return err },
		check:  func(c *Conf) []string { return named("ReadAheadTotal", bytesProblem(c.readAheadTotal, 1)) }},
	{key: confHubRefresh, init: func(c *Conf) { c.hubRefresh = DefaultHubRefreshInterval },
		format: func(c *Conf) (string, bool) { return c.hubRefresh.String(), true },
		parse:  func(c *Conf, v string) (err error) { c.hubRefresh, err = parseTimeout(v); return err },
		check:  func(c *Conf) []string { return named("HubRefreshInterval", timeoutProblem(c.hubRefresh)) }},
	{key: confWebSockets,
		format: func(c *Conf) (string, bool) { return strconv.FormatBool(c.webSockets), c.webSockets },
		parse:  func(c *Conf, v string) (err error) { c.webSockets, err = parseBool(v); return err }},
	{key: confCustomEndpoint,
		format: func(c *Conf) (string, bool) { return c.customEndpoint, c.customEndpoint != "" },
		parse:  func(c *Conf, v string) error { c.customEndpoint = v; return nil },
		check:  func(c *Conf) []string { return named("CustomEndpoint", endpointProblem(c.customEndpoint)) }},
}

// pidSetting is the row of one of the backpressure estimator's settings,
// field of the PID: written only when they differ from the defaults.
func pidSetting(key, name string, field func(p *streaming.PID) *float64, problem func(float64) string) setting {
	return setting{key: key,
		init: func(c *Conf) {
			def := streaming.DefaultPID()
			*field(&c.pid) = *field(&def)
		},
		format: func(c *Conf) (string, bool) { return formatFloat(*field(&c.pid)), c.pid != streaming.DefaultPID() },
		parse:  func(c *Conf, v string) (err error) { *field(&c.pid), err = parseNumber(v); return err },
		check:  func(c *Conf) []string { return named("BackpressurePID "+name, problem(*field(&c.pid))) },
	}
}

// settingOf is the row of key, nil when there is none.
func settingOf(key string) *setting {
	for i := range settings {
		if settings[i].key == key {
			return &settings[i]
		}
	}
	return nil
}

// connectionProblems is what is wrong with the connection string and the
// hub's name, which must agree with its EntityPath, or with the namespace
// and credential. Secrets are never printed.
func (c *Conf) connectionProblems() []string {
	if c.credential != nil || c.namespace != "" {
		return c.credentialProblems()
	}
	cs, err := c.ConnectionString()
	switch {
	case err != nil:
		return []string{"connection string: " + messageOf(err)}
	case c.name != "" && cs.EntityPath != "" && c.name != cs.EntityPath:
		return []string{fmt.Sprintf("event hub name %q differs from the connection string's EntityPath %q", c.name, cs.EntityPath)}
	case c.EventHubName() == "":
		return []string{"no event hub: the connection string has no EntityPath and SetEventHubName was not called"}
	}
	return nil
}

// credentialProblems is what is wrong with a Conf that signs in with a
// credential: its namespace, its credential, its hub.
func (c *Conf) credentialProblems() []string {
	var problems []string
	if c.connStr != "" {
		problems = append(problems, "both a connection string and a namespace: a Conf signs in with one of them (NewConf or NewConfWithCredential)")
	}
	if p := namespaceProblem(c.namespace); p != "" {
		problems = append(problems, "namespace "+p)
	}
	if c.credential == nil {
		problems = append(problems, fmt.Sprintf("namespace %q has no credential: give NewConfWithCredential one (a TokenCredential cannot be written in ConfFromMap's map)", c.namespace))
	}
	if c.name == "" {
		problems = append(problems, "no event hub: NewConfWithCredential was given an empty name")
	}
	return problems
}

// namespaceProblem says what is wrong with a fully qualified namespace,
// after "namespace"; "" when it is good: a host, with a port for an
// emulator, and nothing else.
func namespaceProblem(ns string) string {
	const want = "want the host alone, such as NAME.servicebus.windows.net (no sb:// or https://, no path)"
	if ns == "" {
		return "is empty: " + want
	}
	u, err := url.Parse("sb://" + ns)
	if err != nil || u.Host != ns || u.Hostname() == "" || strings.ContainsAny(ns, "/@?#; \t") {
		return fmt.Sprintf("%.100q: %s", ns, want)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", ns, port)
		}
	}
	return ""
}

// The problems of values: what is wrong with a value, as it follows the
// name of the setting that holds it ("MaxRatePerPartition = 0: want at
// least 1 event per batch"), or "" when the value is good.

func positionProblem(p EventPosition) string {
	if err := p.Validate(); err != nil {
		return ": " + messageOf(err)
	}
	return ""
}

// bytesProblem: a byte count of at least least.
func bytesProblem(n, least int64) string {
	if n < least {
		return fmt.Sprintf(" = %d: want at least %d bytes", n, least)
	}
	return ""
}

func rateProblem(r int64) string {
	if r < 1 {
		return fmt.Sprintf(" = %d: want at least 1 event per batch", r)
	}
	return ""
}

func timeoutProblem(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf(" = %s: want a positive duration", d)
	}
	return ""
}

func prefetchProblem(n int) string {
	if n < 1 || n > MaxPrefetch {
		return fmt.Sprintf(" = %d: want 1 to %d events", n, MaxPrefetch)
	}
	return ""
}

// endpointProblem: a custom endpoint is HOST or HOST:PORT, as the SDK's
// CustomEndpoint, not a URL.
func endpointProblem(e string) string {
	if e == "" {
		return ""
	}
	host, port := e, ""
	if h, p, err := net.SplitHostPort(e); err == nil {
		host, port = h, p
	}
	if strings.ContainsAny(e, "/@?# ") || host == "" || (net.ParseIP(host) == nil && strings.ContainsAny(host, ":[]")) {
		return fmt.Sprintf(" %q: want HOST or HOST:PORT, without a scheme or a path (as myhub.example.com:443)", e)
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		return fmt.Sprintf(" %q: the port %q is not 1 to 65535", e, port)
	}
	return ""
}

func gainProblem(g float64) string {
	if !(g >= 0 && g <= backpressureMaxGain) {
		return fmt.Sprintf(" = %g: want 0 to %g", g, float64(backpressureMaxGain))
	}
	return ""
}

func minRateProblem(r float64) string {
	if !(r >= 1 && r <= backpressureMaxFloor) {
		return fmt.Sprintf(" = %g: want 1 to %d events per second", r, int64(backpressureMaxFloor))
	}
	return ""
}

// named is the problem of a setting (name) whose value has problem, if
// any.
func named(name, problem string) []string {
	if problem == "" {
		return nil
	}
	return []string{name + problem}
}

// partitionProblems lists the problems of a per-partition setting (name):
// empty partition IDs, and the values' problems.
func partitionProblems[V any](name string, m map[string]V, problem func(V) string) []string {
	var problems []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if id == "" {
			problems = append(problems, name+" has an empty partition ID")
		}
		problems = append(problems, named(fmt.Sprintf("%s[%q]", name, id), problem(m[id]))...)
	}
	return problems
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

func parseCount(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("want a whole number of events")
	}
	return n, nil
}

func parseBytes(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("want a whole number of bytes")
	}
	return n, nil
}

// eventCount is parseCount for a value of a per-partition map, which
// names it.
func eventCount(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of events", v)
	}
	return n, nil
}

func parseNumber(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, errors.New("want a number")
	}
	return x, nil
}

// parsePosition is ParseEventPosition with its error's message alone: the
// map form names the key and value itself.
func parsePosition(v string) (EventPosition, error) {
	p, err := ParseEventPosition(v)
	if err != nil {
		return p, errors.New(messageOf(err))
	}
	return p, nil
}

// copyOf is a pointer to a copy of *p, nil when p is.
func copyOf[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func joinPartitionMap[V any](m map[string]V, format func(V) string) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, id+"="+format(m[id]))
	}
	return strings.Join(parts, ",")
}

func splitPartitionMap[V any](s string, parse func(string) (V, error)) (map[string]V, error) {
	m := map[string]V{}
	if s == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		id, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return nil, fmt.Errorf("%q is not PARTITION=VALUE", part)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("partition %s appears twice", id)
		}
		x, err := parse(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("partition %s: %v", id, err)
		}
		m[id] = x
	}
	return m, nil
}
