package eventhubs

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// utNoHub is a connection string without EntityPath.
const utNoHub = "Endpoint=" + utEndpoint + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + utKey

func TestNewConfDefaults(t *testing.T) {
	c := NewConf(utPortal)
	if got := c.ConsumerGroup(); got != "$Default" {
		t.Errorf("ConsumerGroup() = %q, want $Default", got)
	}
	if got := c.StartingPosition(); !got.Equal(StartOfStream()) {
		t.Errorf("StartingPosition() = %v, want earliest", got)
	}
	if got := c.PositionFor("0"); !got.Equal(StartOfStream()) {
		t.Errorf("PositionFor(0) = %v, want earliest", got)
	}
	if got := c.StartingPositions(); len(got) != 0 {
		t.Errorf("StartingPositions() = %v, want none", got)
	}
	if !c.FailOnDataLoss() {
		t.Errorf("FailOnDataLoss() = false, want true")
	}
	if got := c.MaxRatePerPartition(); got != 1000 {
		t.Errorf("MaxRatePerPartition() = %d, want 1000", got)
	}
	if got := c.RateFor("0"); got != 1000 {
		t.Errorf("RateFor(0) = %d, want 1000", got)
	}
	if got := c.MaxRatesPerPartition(); len(got) != 0 {
		t.Errorf("MaxRatesPerPartition() = %v, want none", got)
	}
	if got := c.ReceiverTimeout(); got != 60*time.Second {
		t.Errorf("ReceiverTimeout() = %s, want 60s", got)
	}
	if got := c.OperationTimeout(); got != 60*time.Second {
		t.Errorf("OperationTimeout() = %s, want 60s", got)
	}
	if got := c.Prefetch(); got != DefaultPrefetch {
		t.Errorf("Prefetch() = %d, want %d", got, DefaultPrefetch)
	}
	if excl, set := c.Exclusive(); excl || set {
		t.Errorf("Exclusive() = %v, %v; want unset (false, false): each reader's default", excl, set)
	}
	if c.Logger() == nil || c.Logger() != slog.Default() {
		t.Errorf("Logger() = %v, want slog.Default()", c.Logger())
	}
	if got := c.EventHubName(); got != "hub" {
		t.Errorf("EventHubName() = %q, want the EntityPath %q", got, "hub")
	}
	cs, err := c.ConnectionString()
	if err != nil || cs.SharedAccessKey != utKey || cs.EntityPath != "hub" {
		t.Errorf("ConnectionString() = %v, %v", cs, err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of the defaults: %v", err)
	}
	if MaxPrefetch < DefaultPrefetch {
		t.Errorf("MaxPrefetch %d < DefaultPrefetch %d", MaxPrefetch, DefaultPrefetch)
	}
}

func TestConfSettersChain(t *testing.T) {
	c := NewConf(utNoHub)
	logger := slog.New(slog.DiscardHandler)
	pos := FromEnqueuedTime(utTime)
	got := c.SetEventHubName("other").
		SetConsumerGroup("audit").
		SetStartingPositions(map[string]EventPosition{"1": FromSequenceNumber(5, false)}).
		SetStartingPosition(pos).
		SetFailOnDataLoss(false).
		SetMaxRatesPerPartition(map[string]int64{"1": 7}).
		SetMaxRatePerPartition(500).
		SetReceiverTimeout(5 * time.Second).
		SetOperationTimeout(10 * time.Second).
		SetPrefetch(300).
		SetExclusive(false).
		SetLogger(logger)
	if got != c {
		t.Fatalf("the setters do not return their Conf")
	}
	if c.EventHubName() != "other" {
		t.Errorf("EventHubName() = %q", c.EventHubName())
	}
	if c.ConsumerGroup() != "audit" {
		t.Errorf("ConsumerGroup() = %q", c.ConsumerGroup())
	}
	if ps := c.StartingPositions(); len(ps) != 1 || !ps["1"].Equal(FromSequenceNumber(5, false)) {
		t.Errorf("StartingPositions() = %v", ps)
	}
	if !c.StartingPosition().Equal(pos) {
		t.Errorf("StartingPosition() = %v, want %v", c.StartingPosition(), pos)
	}
	if c.FailOnDataLoss() {
		t.Errorf("FailOnDataLoss() = true")
	}
	if rs := c.MaxRatesPerPartition(); !reflect.DeepEqual(rs, map[string]int64{"1": 7}) {
		t.Errorf("MaxRatesPerPartition() = %v", rs)
	}
	if c.MaxRatePerPartition() != 500 {
		t.Errorf("MaxRatePerPartition() = %d", c.MaxRatePerPartition())
	}
	if c.ReceiverTimeout() != 5*time.Second {
		t.Errorf("ReceiverTimeout() = %s", c.ReceiverTimeout())
	}
	if c.OperationTimeout() != 10*time.Second {
		t.Errorf("OperationTimeout() = %s", c.OperationTimeout())
	}
	if c.Prefetch() != 300 {
		t.Errorf("Prefetch() = %d", c.Prefetch())
	}
	if excl, set := c.Exclusive(); excl || !set {
		t.Errorf("Exclusive() = %v, %v; want false, set", excl, set)
	}
	if c.Logger() != logger {
		t.Errorf("Logger() is not the one set")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// A receiver timeout of 0 means the default.
	if got := c.SetReceiverTimeout(0).ReceiverTimeout(); got != DefaultReceiverTimeout {
		t.Errorf("ReceiverTimeout after SetReceiverTimeout(0) = %s, want %s", got, DefaultReceiverTimeout)
	}
}

func TestConfMapsAreCopied(t *testing.T) {
	ps := map[string]EventPosition{"0": FromSequenceNumber(1, true)}
	rs := map[string]int64{"0": 10}
	c := NewConf(utPortal).SetStartingPositions(ps).SetMaxRatesPerPartition(rs)
	// Changing the caller's maps after the call does not change the Conf.
	ps["0"] = EndOfStream()
	ps["1"] = EndOfStream()
	rs["0"] = 99
	rs["1"] = 99
	if got := c.PositionFor("0"); !got.Equal(FromSequenceNumber(1, true)) {
		t.Errorf("PositionFor(0) = %v after changing the caller's map", got)
	}
	if got := c.PositionFor("1"); !got.Equal(StartOfStream()) {
		t.Errorf("PositionFor(1) = %v after changing the caller's map", got)
	}
	if got := c.RateFor("0"); got != 10 {
		t.Errorf("RateFor(0) = %d after changing the caller's map", got)
	}
	if got := c.RateFor("1"); got != DefaultMaxRatePerPartition {
		t.Errorf("RateFor(1) = %d after changing the caller's map", got)
	}
	// Changing what the getters return does not change the Conf either.
	c.StartingPositions()["0"] = EndOfStream()
	c.MaxRatesPerPartition()["0"] = 99
	if got := c.PositionFor("0"); !got.Equal(FromSequenceNumber(1, true)) {
		t.Errorf("PositionFor(0) = %v after changing StartingPositions()", got)
	}
	if got := c.RateFor("0"); got != 10 {
		t.Errorf("RateFor(0) = %d after changing MaxRatesPerPartition()", got)
	}
}

func TestConfPositionForAndRateFor(t *testing.T) {
	seq := FromSequenceNumber(5, true)
	end := EndOfStream()
	tests := []struct {
		name     string
		conf     *Conf
		id       string
		wantPos  EventPosition
		wantRate int64
	}{
		{"defaults", NewConf(utPortal), "0", StartOfStream(), DefaultMaxRatePerPartition},
		{"single values", NewConf(utPortal).SetStartingPosition(end).SetMaxRatePerPartition(50), "0", end, 50},
		{"per-partition only", NewConf(utPortal).
			SetStartingPositions(map[string]EventPosition{"0": seq}).
			SetMaxRatesPerPartition(map[string]int64{"0": 7}), "0", seq, 7},
		{"per-partition only, other partition", NewConf(utPortal).
			SetStartingPositions(map[string]EventPosition{"0": seq}).
			SetMaxRatesPerPartition(map[string]int64{"0": 7}), "1", StartOfStream(), DefaultMaxRatePerPartition},
		{"per-partition beats single", NewConf(utPortal).
			SetStartingPosition(end).SetMaxRatePerPartition(50).
			SetStartingPositions(map[string]EventPosition{"0": seq}).
			SetMaxRatesPerPartition(map[string]int64{"0": 7}), "0", seq, 7},
		{"per-partition beats single, set in the other order", NewConf(utPortal).
			SetStartingPositions(map[string]EventPosition{"0": seq}).
			SetMaxRatesPerPartition(map[string]int64{"0": 7}).
			SetStartingPosition(end).SetMaxRatePerPartition(50), "0", seq, 7},
		{"single for partitions the map lacks", NewConf(utPortal).
			SetStartingPosition(end).SetMaxRatePerPartition(50).
			SetStartingPositions(map[string]EventPosition{"0": seq}).
			SetMaxRatesPerPartition(map[string]int64{"0": 7}), "2", end, 50},
		{"empty maps", NewConf(utPortal).
			SetStartingPositions(map[string]EventPosition{}).SetMaxRatesPerPartition(map[string]int64{}).
			SetStartingPosition(end).SetMaxRatePerPartition(50), "0", end, 50},
		{"per-partition start of stream beats single", NewConf(utPortal).
			SetStartingPosition(end).
			SetStartingPositions(map[string]EventPosition{"0": StartOfStream()}), "0", StartOfStream(), DefaultMaxRatePerPartition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.conf.PositionFor(tt.id); !got.Equal(tt.wantPos) {
				t.Errorf("PositionFor(%q) = %v, want %v", tt.id, got, tt.wantPos)
			}
			if got := tt.conf.RateFor(tt.id); got != tt.wantRate {
				t.Errorf("RateFor(%q) = %d, want %d", tt.id, got, tt.wantRate)
			}
		})
	}
}

func TestConfOperationTimeout(t *testing.T) {
	tests := []struct {
		name string
		conf *Conf
		want time.Duration
	}{
		{"default", NewConf(utPortal), DefaultOperationTimeout},
		{"from the connection string, ISO", NewConf(utPortal + ";OperationTimeout=PT2M"), 2 * time.Minute},
		{"from the connection string, TimeSpan", NewConf(utPortal + ";OperationTimeout=00:00:30"), 30 * time.Second},
		{"from the connection string, Go", NewConf(utPortal + ";OperationTimeout=45s"), 45 * time.Second},
		{"set beats the connection string", NewConf(utPortal + ";OperationTimeout=PT2M").SetOperationTimeout(5 * time.Second), 5 * time.Second},
		{"set without the connection string's", NewConf(utPortal).SetOperationTimeout(5 * time.Second), 5 * time.Second},
		{"set to 0 falls back", NewConf(utPortal + ";OperationTimeout=PT2M").SetOperationTimeout(0), 2 * time.Minute},
		{"bad connection string", NewConf("nonsense"), DefaultOperationTimeout},
		{"bad timeout in connection string", NewConf(utPortal + ";OperationTimeout=never"), DefaultOperationTimeout},
	}
	for _, tt := range tests {
		if got := tt.conf.OperationTimeout(); got != tt.want {
			t.Errorf("%s: OperationTimeout() = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestConfEventHubName(t *testing.T) {
	tests := []struct {
		name string
		conf *Conf
		want string
	}{
		{"EntityPath", NewConf(utPortal), "hub"},
		{"set", NewConf(utNoHub).SetEventHubName("h2"), "h2"},
		{"set and EntityPath", NewConf(utPortal).SetEventHubName("hub"), "hub"},
		{"none", NewConf(utNoHub), ""},
		{"bad connection string", NewConf("x"), ""},
	}
	for _, tt := range tests {
		if got := tt.conf.EventHubName(); got != tt.want {
			t.Errorf("%s: EventHubName() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestConfClone(t *testing.T) {
	orig := NewConf(utPortal).
		SetConsumerGroup("g").
		SetStartingPositions(map[string]EventPosition{"0": FromSequenceNumber(5, true)}).
		SetStartingPosition(FromOffset("10", false)).
		SetMaxRatesPerPartition(map[string]int64{"0": 7}).
		SetMaxRatePerPartition(50).
		SetExclusive(true)
	clone := orig.Clone()
	if clone == orig {
		t.Fatal("Clone returned the same pointer")
	}
	if !reflect.DeepEqual(clone.ToMap(), orig.ToMap()) {
		t.Fatalf("clone %v differs from %v", clone, orig)
	}
	want := clone.ToMap()

	// Mutate the original's maps and position in place (as only code in
	// this package can) and through the setters.
	orig.startingPositions["0"] = EndOfStream()
	orig.startingPositions["1"] = EndOfStream()
	orig.maxRates["0"] = 99
	orig.maxRates["1"] = 99
	*orig.startingPosition = EndOfStream()
	*orig.exclusive = false
	orig.SetConsumerGroup("other").
		SetStartingPositions(map[string]EventPosition{"2": EndOfStream()}).
		SetMaxRatesPerPartition(map[string]int64{"2": 3}).
		SetStartingPosition(FromSequenceNumber(1, true)).
		SetMaxRatePerPartition(2).
		SetPrefetch(5)

	if got := clone.ToMap(); !reflect.DeepEqual(got, want) {
		t.Errorf("the clone changed with the original:\ngot  %v\nwant %v", got, want)
	}
	if got := clone.PositionFor("0"); !got.Equal(FromSequenceNumber(5, true)) {
		t.Errorf("clone PositionFor(0) = %v", got)
	}
	if got := clone.PositionFor("1"); !got.Equal(FromOffset("10", false)) {
		t.Errorf("clone PositionFor(1) = %v", got)
	}
	if got := clone.RateFor("0"); got != 7 {
		t.Errorf("clone RateFor(0) = %d", got)
	}
	if got := clone.RateFor("1"); got != 50 {
		t.Errorf("clone RateFor(1) = %d", got)
	}

	// And the other way round.
	orig2 := NewConf(utPortal).SetStartingPositions(map[string]EventPosition{"0": StartOfStream()}).
		SetMaxRatesPerPartition(map[string]int64{"0": 1}).SetStartingPosition(EndOfStream())
	c2 := orig2.Clone()
	c2.startingPositions["0"] = EndOfStream()
	c2.maxRates["0"] = 42
	*c2.startingPosition = StartOfStream()
	if !orig2.PositionFor("0").Equal(StartOfStream()) || orig2.RateFor("0") != 1 || !orig2.StartingPosition().Equal(EndOfStream()) {
		t.Errorf("changing the clone changed the original: %v", orig2)
	}

	// A Conf without maps or position clones to one without them.
	c3 := NewConf(utPortal).Clone()
	if c3.startingPositions != nil || c3.maxRates != nil || c3.startingPosition != nil || c3.exclusive != nil {
		t.Errorf("Clone of a fresh Conf grew maps or a position: %#v", c3)
	}
}

func TestConfValidate(t *testing.T) {
	good := []struct {
		name string
		conf *Conf
	}{
		{"defaults", NewConf(utPortal)},
		{"emulator with name", NewConf(utEmulator).SetEventHubName("hub")},
		{"name matching EntityPath", NewConf(utPortal).SetEventHubName("hub")},
		{"signature", NewConf(utSAS)},
		{"limits", NewConf(utPortal).SetPrefetch(1).SetMaxRatePerPartition(1).
			SetMaxRatesPerPartition(map[string]int64{"0": 1})},
		{"max prefetch", NewConf(utPortal).SetPrefetch(MaxPrefetch)},
		{"every position", NewConf(utPortal).SetStartingPosition(FromEnqueuedTime(utTime)).
			SetStartingPositions(map[string]EventPosition{"0": StartOfStream(), "1": EndOfStream(),
				"2": FromSequenceNumber(0, true), "3": FromSequenceNumber(-1, false), "4": FromOffset("-1", true)})},
		{"zero timeouts mean defaults", NewConf(utPortal).SetReceiverTimeout(0).SetOperationTimeout(0)},
		{"backpressure", NewConf(utPortal).SetBackpressure(true).SetBackpressurePID(0, 0, 0, 1)},
		{"web sockets", NewConf(utPortal).SetWebSockets(true)},
		{"custom endpoint", NewConf(utPortal).SetCustomEndpoint("10.0.0.4")},
		{"custom endpoint with port", NewConf(utPortal).SetCustomEndpoint("gateway.example.com:443")},
		{"custom endpoint IPv6", NewConf(utPortal).SetCustomEndpoint("[fd00::4]:5671")},
	}
	for _, tt := range good {
		if err := tt.conf.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tt.name, err)
		}
	}

	bad := []struct {
		name string
		conf *Conf
		want []string
	}{
		{"empty consumer group", NewConf(utPortal).SetConsumerGroup(""), []string{"consumer group is empty"}},
		{"blank consumer group", NewConf(utPortal).SetConsumerGroup("  "), []string{"consumer group is empty"}},
		{"zero rate", NewConf(utPortal).SetMaxRatePerPartition(0), []string{"MaxRatePerPartition = 0"}},
		{"negative rate", NewConf(utPortal).SetMaxRatePerPartition(-5), []string{"MaxRatePerPartition = -5"}},
		{"zero per-partition rate", NewConf(utPortal).SetMaxRatesPerPartition(map[string]int64{"3": 0}),
			[]string{`MaxRatesPerPartition["3"] = 0`}},
		{"negative per-partition rate", NewConf(utPortal).SetMaxRatesPerPartition(map[string]int64{"1": 5, "3": -2}),
			[]string{`MaxRatesPerPartition["3"] = -2`}},
		{"per-partition rate without partition", NewConf(utPortal).SetMaxRatesPerPartition(map[string]int64{"": 5}),
			[]string{"MaxRatesPerPartition has an empty partition ID"}},
		{"negative receiver timeout", NewConf(utPortal).SetReceiverTimeout(-time.Second), []string{"ReceiverTimeout = -1s"}},
		{"negative operation timeout", NewConf(utPortal).SetOperationTimeout(-2 * time.Second), []string{"OperationTimeout = -2s"}},
		{"prefetch 0", NewConf(utPortal).SetPrefetch(0), []string{"Prefetch = 0", fmt.Sprint(MaxPrefetch)}},
		{"prefetch negative", NewConf(utPortal).SetPrefetch(-1), []string{"Prefetch = -1"}},
		{"negative PID gains", NewConf(utPortal).SetBackpressure(true).SetBackpressurePID(-1, -0.5, -2, 100),
			[]string{"3 problems", "proportional = -1", "integral = -0.5", "derivative = -2"}},
		{"PID minimum rate 0", NewConf(utPortal).SetBackpressurePID(1, 0.2, 0, 0), []string{"minRate = 0", "events per second"}},
		{"prefetch too big", NewConf(utPortal).SetPrefetch(MaxPrefetch + 1), []string{fmt.Sprintf("Prefetch = %d", MaxPrefetch+1)}},
		{"negative sequence number", NewConf(utPortal).SetStartingPosition(FromSequenceNumber(-5, true)),
			[]string{"StartingPosition:", "seq:-5"}},
		{"unset enqueued time", NewConf(utPortal).SetStartingPosition(FromEnqueuedTime(time.Time{})),
			[]string{"StartingPosition:", "enqueued time"}},
		{"empty offset per partition", NewConf(utPortal).SetStartingPositions(map[string]EventPosition{"1": FromOffset("", true)}),
			[]string{`StartingPositions["1"]`, "offset"}},
		{"position without partition", NewConf(utPortal).SetStartingPositions(map[string]EventPosition{"": EndOfStream()}),
			[]string{"StartingPositions has an empty partition ID"}},
		{"no hub name", NewConf(utNoHub), []string{"no event hub", "EntityPath", "SetEventHubName"}},
		{"name disagrees with EntityPath", NewConf(utPortal).SetEventHubName("other"), []string{`"other"`, `"hub"`, "EntityPath"}},
		{"bad connection string and more", NewConf("Endpoint=https://x;SharedAccessKeyName=n;SharedAccessKey=" + utKey).SetPrefetch(0),
			[]string{"2 problems", "connection string:", "Endpoint=", "Prefetch = 0"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.conf.Validate()
			e := utAsError(t, err, CodeInvalidConf)
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			utNoSecret(t, "Validate error", err.Error())
		})
	}

	// A connection string problem alone keeps its own code.
	err := NewConf("SharedAccessKeyName=n;SharedAccessKey=" + utKey).Validate()
	e := utAsError(t, err, CodeInvalidConnectionString)
	if !strings.Contains(e.Message, "Endpoint") {
		t.Errorf("message %q does not name Endpoint", e.Message)
	}
	utNoSecret(t, "Validate error", err.Error())
	e = utAsError(t, NewConf("").Validate(), CodeInvalidConnectionString)
	if !strings.Contains(e.Message, "empty") {
		t.Errorf("message %q does not say the connection string is empty", e.Message)
	}
}

func TestConfValidateReportsEveryProblem(t *testing.T) {
	c := NewConf(utPortal).
		SetEventHubName("other").
		SetConsumerGroup("").
		SetStartingPositions(map[string]EventPosition{"0": FromSequenceNumber(-3, true), "1": FromOffset("", false)}).
		SetStartingPosition(FromEnqueuedTime(time.Time{})).
		SetMaxRatesPerPartition(map[string]int64{"0": 0, "1": -1}).
		SetMaxRatePerPartition(-1).
		SetReceiverTimeout(-time.Second).
		SetOperationTimeout(-time.Minute).
		SetPrefetch(MaxPrefetch + 1)
	err := c.Validate()
	e := utAsError(t, err, CodeInvalidConf)
	for _, w := range []string{
		"11 problems",
		`"other"`,
		"consumer group is empty",
		`StartingPositions["0"]`, "seq:-3",
		`StartingPositions["1"]`,
		"StartingPosition: ",
		`MaxRatesPerPartition["0"] = 0`,
		`MaxRatesPerPartition["1"] = -1`,
		"MaxRatePerPartition = -1",
		"ReceiverTimeout = -1s",
		"OperationTimeout = -1m0s",
		fmt.Sprintf("Prefetch = %d", MaxPrefetch+1),
	} {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q does not contain %q", e.Message, w)
		}
	}
	utNoSecret(t, "Validate error", err.Error())

	// The same with a bad connection string, whose problem comes first.
	c2 := c.Clone()
	c2.connStr = "Endpoint=sb://ns/;SharedAccessKey=" + utKey
	err = c2.Validate()
	e = utAsError(t, err, CodeInvalidConf)
	if !strings.HasPrefix(e.Message, "11 problems: connection string: ") || !strings.Contains(e.Message, "SharedAccessKeyName") {
		t.Errorf("message %q does not start with the connection string's problem", e.Message)
	}
	if strings.Contains(e.Message, `"other"`) {
		t.Errorf("message %q compares the name with an EntityPath it could not read", e.Message)
	}
	utNoSecret(t, "Validate error", err.Error())
}

func TestConfString(t *testing.T) {
	tests := []struct {
		name string
		conf *Conf
		want []string
	}{
		{"portal", NewConf(utPortal).SetConsumerGroup("audit"), []string{"eventhubs.connectionString=Endpoint=" + utEndpoint,
			"SharedAccessKey=REDACTED", "eventhubs.consumerGroup=audit", "eventhubs.prefetch=1000", "eventhubs.startingPosition=earliest"}},
		{"signature", NewConf(utSAS), []string{"SharedAccessSignature=REDACTED"}},
		{"positions", NewConf(utNoHub).SetEventHubName("h").
			SetStartingPositions(map[string]EventPosition{"0": FromSequenceNumber(5, false)}),
			[]string{"eventhubs.name=h", "eventhubs.startingPositions=0=seq:>5"}},
		{"invalid connection string", NewConf("Endpoint=https://x;SharedAccessKey=" + utKey + ";" + utPastedKey),
			[]string{"eventhubs.connectionString=(invalid)"}},
		{"invalid connection string with signature", NewConf(utSAS + ";" + utSig), []string{"eventhubs.connectionString=(invalid)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range []string{tt.conf.String(), fmt.Sprint(tt.conf), fmt.Sprintf("%v", tt.conf)} {
				utNoSecret(t, "Conf.String()", s)
				for _, w := range tt.want {
					if !strings.Contains(s, w) {
						t.Errorf("String() = %q does not contain %q", s, w)
					}
				}
			}
		})
	}
}

// utConfGetters lists what a Conf's getters return, for comparisons.
func utConfGetters(c *Conf) map[string]any {
	return map[string]any{
		"EventHubName":         c.EventHubName(),
		"ConsumerGroup":        c.ConsumerGroup(),
		"StartingPosition":     c.StartingPosition().String(),
		"StartingPositions":    joinPartitionMap(c.StartingPositions(), EventPosition.String),
		"FailOnDataLoss":       c.FailOnDataLoss(),
		"MaxRatesPerPartition": fmt.Sprint(c.MaxRatesPerPartition()),
		"MaxRatePerPartition":  c.MaxRatePerPartition(),
		"ReceiverTimeout":      c.ReceiverTimeout(),
		"OperationTimeout":     c.OperationTimeout(),
		"Prefetch":             c.Prefetch(),
		"Exclusive":            fmt.Sprint(c.Exclusive()),
		"Backpressure":         c.Backpressure(),
		"BackpressurePID":      c.BackpressurePID(),
		"WebSockets":           c.WebSockets(),
		"CustomEndpoint":       c.CustomEndpoint(),
		"connStr":              c.connStr,
	}
}

func TestConfMapRoundTrip(t *testing.T) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	tests := []struct {
		name string
		conf *Conf
	}{
		{"defaults", NewConf(utPortal)},
		{"everything", NewConf(utNoHub).
			SetEventHubName("h2").
			SetConsumerGroup("audit").
			SetStartingPositions(map[string]EventPosition{
				"0":  FromSequenceNumber(5, true),
				"1":  FromSequenceNumber(5, false),
				"2":  FromOffset("100", true),
				"3":  FromOffset("100", false),
				"4":  FromEnqueuedTime(time.Date(2026, 3, 4, 5, 6, 7, 8, zone)),
				"5":  EndOfStream(),
				"6":  StartOfStream(),
				"10": FromSequenceNumber(-1, false),
			}).
			SetStartingPosition(FromEnqueuedTime(time.Date(2026, 1, 2, 3, 4, 5, 600, zone))).
			SetFailOnDataLoss(false).
			SetMaxRatesPerPartition(map[string]int64{"0": 10, "3": 1, "10": 1 << 40}).
			SetMaxRatePerPartition(500).
			SetReceiverTimeout(7*time.Second).
			SetOperationTimeout(90*time.Second).
			SetPrefetch(250).
			SetExclusive(false).
			SetBackpressure(true).
			SetBackpressurePID(0.75, 0.125, 0.5, 40).
			SetWebSockets(true).
			SetCustomEndpoint("gateway.example.com:8443")},
		{"backpressure with defaults", NewConf(utPortal).SetBackpressure(true)},
		{"timeout from connection string", NewConf(utPortal + ";OperationTimeout=PT3M").SetStartingPosition(EndOfStream())},
		{"emulator", NewConf(utEmulator).SetEventHubName("hub").SetStartingPosition(FromSequenceNumber(0, false)).SetExclusive(true)},
		{"signature", NewConf(utSAS).SetPrefetch(MaxPrefetch).SetMaxRatePerPartition(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.conf.ToMap()
			if m[confConnectionString] != tt.conf.connStr {
				t.Errorf("ToMap holds connection string %q, want %q", m[confConnectionString], tt.conf.connStr)
			}
			for k := range m {
				if !strings.HasPrefix(k, "eventhubs.") {
					t.Errorf("ToMap key %q lacks the eventhubs. prefix", k)
				}
			}
			// Settings of the rest of the program ride along, ignored.
			m["spark.master"] = "local[*]"
			m["eventhubsconsumerGroup"] = "x"
			m["EVENTHUBS.consumerGroup"] = "x"
			m["eh.prefetch"] = "bad"
			back, err := ConfFromMap(m)
			if err != nil {
				t.Fatalf("ConfFromMap: %v", err)
			}
			if got, want := utConfGetters(back), utConfGetters(tt.conf); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\ngot  %v\nwant %v", got, want)
			}
			for id, p := range tt.conf.StartingPositions() {
				if q := back.PositionFor(id); !q.Equal(p) {
					t.Errorf("PositionFor(%q) = %v, want %v", id, q, p)
				}
			}
			if !back.StartingPosition().Equal(tt.conf.StartingPosition()) {
				t.Errorf("StartingPosition() = %v, want %v", back.StartingPosition(), tt.conf.StartingPosition())
			}
			if len(back.StartingPositions()) != len(tt.conf.StartingPositions()) {
				t.Errorf("StartingPositions() = %v, want %v", back.StartingPositions(), tt.conf.StartingPositions())
			}
			if !reflect.DeepEqual(back.MaxRatesPerPartition(), tt.conf.MaxRatesPerPartition()) &&
				len(back.MaxRatesPerPartition())+len(tt.conf.MaxRatesPerPartition()) > 0 {
				t.Errorf("MaxRatesPerPartition() = %v, want %v", back.MaxRatesPerPartition(), tt.conf.MaxRatesPerPartition())
			}
			delete(m, "spark.master")
			delete(m, "eventhubsconsumerGroup")
			delete(m, "EVENTHUBS.consumerGroup")
			delete(m, "eh.prefetch")
			if got := back.ToMap(); !reflect.DeepEqual(got, m) {
				t.Errorf("ToMap after the round trip:\ngot  %v\nwant %v", got, m)
			}
		})
	}
}

func TestConfFromMapPartial(t *testing.T) {
	// Missing keys keep their defaults.
	c, err := ConfFromMap(map[string]string{
		confConnectionString: utPortal,
		confConsumerGroup:    " audit ",
		confStartingPosition: "seq:>41",
		"other.key":          "whatever",
	})
	if err != nil {
		t.Fatalf("ConfFromMap: %v", err)
	}
	want := utConfGetters(NewConf(utPortal).SetConsumerGroup("audit").SetStartingPosition(FromSequenceNumber(41, false)))
	if got := utConfGetters(c); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	// The other timeout forms.
	c, err = ConfFromMap(map[string]string{
		confConnectionString:     utPortal,
		confReceiverTimeout:      "PT30S",
		confOperationTimeout:     "00:02:00",
		confStartingPositions:    " 0 = seq:1 , 1=latest",
		confMaxRatesPerPartition: "",
	})
	if err != nil {
		t.Fatalf("ConfFromMap: %v", err)
	}
	if c.ReceiverTimeout() != 30*time.Second || c.OperationTimeout() != 2*time.Minute {
		t.Errorf("timeouts = %s, %s; want 30s, 2m", c.ReceiverTimeout(), c.OperationTimeout())
	}
	if !c.PositionFor("0").Equal(FromSequenceNumber(1, true)) || !c.PositionFor("1").Equal(EndOfStream()) {
		t.Errorf("StartingPositions() = %v", c.StartingPositions())
	}
}

func TestConfFromMapErrors(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
		code ErrorCode
		want []string
	}{
		{"unknown key", map[string]string{"eventhubs.consumergroup": "x"}, CodeInvalidConf, []string{`unknown key "eventhubs.consumergroup"`}},
		{"unknown key typo", map[string]string{"eventhubs.startingPositon": "latest"}, CodeInvalidConf, []string{`"eventhubs.startingPositon"`}},
		{"bad bool", map[string]string{confFailOnDataLoss: "maybe"}, CodeInvalidConf,
			[]string{confFailOnDataLoss, `"maybe"`, "true or false"}},
		{"bad exclusive", map[string]string{confExclusive: "2"}, CodeInvalidConf, []string{confExclusive, `"2"`}},
		{"bad number", map[string]string{confMaxRatePerPartition: "ten"}, CodeInvalidConf, []string{confMaxRatePerPartition, `"ten"`}},
		{"bad prefetch", map[string]string{confPrefetch: "1.5"}, CodeInvalidConf, []string{confPrefetch, `"1.5"`}},
		{"bad duration", map[string]string{confReceiverTimeout: "soon"}, CodeInvalidConf, []string{confReceiverTimeout, `"soon"`}},
		{"negative duration", map[string]string{confOperationTimeout: "-5s"}, CodeInvalidConf, []string{confOperationTimeout, `"-5s"`}},
		{"bad position", map[string]string{confStartingPosition: "seq:abc"}, CodeInvalidConf, []string{confStartingPosition, "seq:abc"}},
		{"duplicate partition", map[string]string{confStartingPositions: "0=seq:5,0=seq:6"}, CodeInvalidConf,
			[]string{confStartingPositions, `"0=seq:5,0=seq:6"`, "partition 0 appears twice"}},
		{"partition map without =", map[string]string{confStartingPositions: "x"}, CodeInvalidConf,
			[]string{confStartingPositions, `"x"`, "PARTITION=VALUE"}},
		{"partition map without partition", map[string]string{confStartingPositions: "=latest"}, CodeInvalidConf,
			[]string{confStartingPositions, `"=latest"`}},
		{"partition map bad position", map[string]string{confStartingPositions: "0=latest,1=bogus:1"}, CodeInvalidConf,
			[]string{confStartingPositions, "partition 1", "bogus"}},
		{"rate map bad number", map[string]string{confMaxRatesPerPartition: "0=abc"}, CodeInvalidConf,
			[]string{confMaxRatesPerPartition, `"0=abc"`, "partition 0"}},
		{"rate map duplicate", map[string]string{confMaxRatesPerPartition: "1=5,1=6"}, CodeInvalidConf,
			[]string{confMaxRatesPerPartition, "appears twice"}},
		{"rate map x", map[string]string{confMaxRatesPerPartition: "x"}, CodeInvalidConf, []string{confMaxRatesPerPartition, `"x"`}},
		{"valid text, invalid value", map[string]string{confMaxRatePerPartition: "0"}, CodeInvalidConf, []string{"MaxRatePerPartition = 0"}},
		{"valid text, invalid prefetch", map[string]string{confPrefetch: "20000"}, CodeInvalidConf, []string{"Prefetch = 20000"}},
		{"bad backpressure", map[string]string{confBackpressure: "on"}, CodeInvalidConf, []string{confBackpressure, `"on"`, "true or false"}},
		{"bad web sockets", map[string]string{confWebSockets: "yes"}, CodeInvalidConf, []string{confWebSockets, `"yes"`, "true or false"}},
		{"custom endpoint URL", map[string]string{confCustomEndpoint: "https://gw.example.com/"}, CodeInvalidConf,
			[]string{"CustomEndpoint", `"https://gw.example.com/"`, "HOST or HOST:PORT"}},
		{"custom endpoint bad port", map[string]string{confCustomEndpoint: "gw.example.com:http"}, CodeInvalidConf,
			[]string{"CustomEndpoint", `"gw.example.com:http"`, "1 to 65535"}},
		{"bad PID gain", map[string]string{confPIDIntegral: "lots"}, CodeInvalidConf, []string{confPIDIntegral, `"lots"`, "a number"}},
		{"PID gain NaN", map[string]string{confPIDDerivative: "NaN"}, CodeInvalidConf, []string{confPIDDerivative, `"NaN"`}},
		{"valid text, invalid PID", map[string]string{confPIDMinRate: "0.5"}, CodeInvalidConf, []string{"minRate = 0.5"}},
		{"several bad values", map[string]string{confFailOnDataLoss: "maybe", confPrefetch: "many", "eventhubs.bogus": "1"},
			CodeInvalidConf, []string{confFailOnDataLoss, `"maybe"`, confPrefetch, `"many"`, `"eventhubs.bogus"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{confConnectionString: utPortal}
			for k, v := range tt.m {
				m[k] = v
			}
			c, err := ConfFromMap(m)
			if c != nil {
				t.Errorf("got a Conf along with the error")
			}
			e := utAsError(t, err, tt.code)
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			utNoSecret(t, "ConfFromMap error", err.Error())
		})
	}

	// A bad connection string: named, not printed.
	for _, cs := range []string{"", "Endpoint=https://x;SharedAccessKeyName=n;SharedAccessKey=" + utKey, utNoHub + ";" + utPastedKey} {
		_, err := ConfFromMap(map[string]string{confConnectionString: cs, confPrefetch: "x"})
		if err == nil {
			t.Errorf("ConfFromMap accepted connection string %q with a bad prefetch", cs)
			continue
		}
		utNoSecret(t, "ConfFromMap error", err.Error())
		_, err = ConfFromMap(map[string]string{confConnectionString: cs})
		utAsError(t, err, CodeInvalidConnectionString)
		utNoSecret(t, "ConfFromMap error", err.Error())
	}
	// No hub name at all.
	_, err := ConfFromMap(map[string]string{confConnectionString: utNoHub})
	e := utAsError(t, err, CodeInvalidConf)
	if !strings.Contains(e.Message, "no event hub") {
		t.Errorf("message %q does not say the hub is missing", e.Message)
	}
	utNoSecret(t, "ConfFromMap error", err.Error())
}

func TestConfPartitionMapHelpers(t *testing.T) {
	m := map[string]int64{"10": 3, "2": 1, "0": 7}
	s := joinPartitionMap(m, func(r int64) string { return fmt.Sprint(r) })
	if s != "0=7,10=3,2=1" {
		t.Errorf("joinPartitionMap = %q, want the partitions sorted", s)
	}
	back, err := splitPartitionMap(s, func(v string) (int64, error) {
		var r int64
		_, err := fmt.Sscan(v, &r)
		return r, err
	})
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Errorf("splitPartitionMap(%q) = %v, %v; want %v", s, back, err, m)
	}
	if got, err := splitPartitionMap("", func(string) (int, error) { return 0, nil }); err != nil || len(got) != 0 || got == nil {
		t.Errorf("splitPartitionMap(\"\") = %#v, %v; want an empty map", got, err)
	}
	for _, bad := range []string{"x", "=1", " =1", "0=1,0=2", "0=1,,1=2", "0=1,x"} {
		if got, err := splitPartitionMap(bad, func(string) (int, error) { return 0, nil }); err == nil {
			t.Errorf("splitPartitionMap(%q) = %v, want an error", bad, got)
		}
	}
}

// NewConfForHub reads the hub it is given with a connection string for a
// sibling hub: its EntityPath is dropped, and Validate sees no conflict.
func TestNewConfForHub(t *testing.T) {
	c := NewConfForHub(utPortal, "sibling")
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	cs, err := c.ConnectionString()
	if c.EventHubName() != "sibling" || err != nil || cs.EntityPath != "" {
		t.Errorf("NewConfForHub(portal, sibling): hub %q, connection string %v (%v); want sibling and no EntityPath", c.EventHubName(), cs, err)
	}
	if got := NewConfForHub("not a connection string", "h"); got.Validate() == nil {
		t.Errorf("NewConfForHub of a bad string validates; want Validate to explain it")
	}
}
