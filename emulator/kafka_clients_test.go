package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// kafkaConn is how a client reaches the Kafka endpoint, passed to its
// scripts as KAFKA_* variables. group "" reads the partitions directly (no
// consumer group); saslUser "" means no SASL; caFile "" means plain TCP.
type kafkaConn struct {
	brokers, topic         string
	group                  string
	saslUser, saslPassword string
	caFile                 string
}

func (c kafkaConn) env(count int) []string {
	return []string{"KAFKA_BROKERS=" + c.brokers, "KAFKA_TOPIC=" + c.topic, "KAFKA_COUNT=" + strconv.Itoa(count),
		"KAFKA_GROUP=" + c.group, "KAFKA_SASL_USER=" + c.saslUser, "KAFKA_SASL_PASSWORD=" + c.saslPassword,
		"KAFKA_TLS_CA=" + c.caFile, "KAFKAJS_NO_PARTITIONER_WARNING=1"}
}

// kafkaRecord is a record as the client scripts write and read it (JSON
// lines); partition and offset only when read.
type kafkaRecord struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
}

// kafkaTool is a Kafka client outside Go: how to find it, produce records
// with it and consume a topic with it.
type kafkaTool struct {
	name string
	// need skips the test without the client, or fails it in CI.
	need func(t *testing.T) kafkaRunner
	// oneHeader: the client sends the same headers on every record (kcat
	// -H); the records it is given all carry {"client": name}.
	oneHeader bool
	// authFailed is the client's own words for a refused SASL
	// authentication, as it reports a wrong key.
	authFailed string
}

// kafkaRunner is how to run one client: the command that produces recs,
// the command that consumes the first count records, and how to read what
// the latter prints.
type kafkaRunner interface {
	produceCmd(ctx context.Context, c kafkaConn, recs []kafkaRecord) *exec.Cmd
	consumeCmd(ctx context.Context, c kafkaConn, count int) *exec.Cmd
	parse(t *testing.T, out []byte) []kafkaRecord
}

// The modes of kafkaClientRow.
const (
	modePlain    = "plain"     // plain TCP, no SASL; consume reads the partitions directly
	modeGroup    = "group"     // plain TCP, consume in a consumer group
	modeSASLTLS  = "sasl-tls"  // TLS + SASL PLAIN against a policy, consume in a group
	modeWrongKey = "wrong-key" // as sasl-tls with a wrong key: the client must be refused
)

// kafkaClientRow is one client in one mode and direction.
type kafkaClientRow struct {
	tool    kafkaTool
	mode    string
	produce bool // else consume
}

// kafkaClientRows is the table TestKafkaClients runs.
func kafkaClientRows() []kafkaClientRow {
	// kafkajs consumes only in a group, so it has no plain consume row.
	kafkajs := kafkaTool{name: "kafkajs", need: needKafkaJS, authFailed: "KafkaJSSASLAuthenticationError: SASL PLAIN authentication failed"}
	kcat := kafkaTool{name: "kcat", need: needKcat, oneHeader: true, authFailed: "SASL authentication error"}
	confluent := kafkaTool{name: "confluent-kafka", need: needConfluentKafka, authFailed: "SASL authentication error"}
	return []kafkaClientRow{
		{tool: kafkajs, mode: modePlain, produce: true},
		{tool: kafkajs, mode: modeGroup},
		{tool: kcat, mode: modePlain, produce: true},
		{tool: kcat, mode: modePlain},
		{tool: kcat, mode: modeGroup},
		{tool: confluent, mode: modePlain, produce: true},
		{tool: confluent, mode: modePlain},
		{tool: confluent, mode: modeGroup},
		{tool: kafkajs, mode: modeSASLTLS, produce: true},
		{tool: kafkajs, mode: modeSASLTLS},
		{tool: kcat, mode: modeSASLTLS, produce: true},
		{tool: kcat, mode: modeSASLTLS},
		{tool: confluent, mode: modeSASLTLS, produce: true},
		{tool: confluent, mode: modeSASLTLS},
		{tool: kafkajs, mode: modeWrongKey, produce: true},
		{tool: kcat, mode: modeWrongKey, produce: true},
		{tool: confluent, mode: modeWrongKey, produce: true},
	}
}

// TestKafkaClients has kafkajs, kcat (librdkafka) and confluent-kafka
// (librdkafka's Python binding) produce keyed records with headers that
// the official Go SDK reads over AMQP, and consume events the SDK sent, on
// a 4-partition hub: over plain TCP, in consumer groups that commit and
// resume, and over TLS with SASL PLAIN as against Event Hubs, where a
// wrong key is refused. CI installs the clients
// (EHSTREAM_TEST_KAFKA_CLIENTS=1 or CI=true make their absence a failure).
func TestKafkaClients(t *testing.T) {
	for _, row := range kafkaClientRows() {
		dir := map[bool]string{true: "produce", false: "consume"}[row.produce]
		t.Run(row.tool.name+"/"+row.mode+"/"+dir, func(t *testing.T) {
			runner := row.tool.need(t)
			srv, conn := startKafkaFor(t, row.mode, row.tool.name)
			ctx := testCtx(t, 90*time.Second)
			switch {
			case row.mode == modeWrongKey:
				checkClientRefused(t, ctx, srv, row.tool, runner, conn)
			case row.produce:
				checkClientProduce(t, ctx, srv, row.tool, runner, conn)
			default:
				checkClientConsume(t, ctx, srv, runner, conn)
			}
		})
	}
}

// wrongKey is a policy key that is not the owner's (kafka_auth_test.go).
const wrongKey = "d3Jvbmcta2V5LW5vdC10aGUtb3duZXJz"

// startKafkaFor starts an emulator with one 4-partition hub "orders" for a
// row's mode, and says how the client reaches it: plain modes on the plain
// Kafka listener in development mode; sasl-tls and wrong-key on the TLS
// listener (the emulator's CA in a file) with policy "owner" and SASL
// PLAIN as the service wants it: user $ConnectionString, a connection
// string as password.
func startKafkaFor(t *testing.T, mode, tool string) (*emulator.Server, kafkaConn) {
	t.Helper()
	hubs := []emulator.HubConfig{{Name: "orders", PartitionCount: 4}}
	if mode == modePlain || mode == modeGroup {
		srv := start(t, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: hubs})
		conn := kafkaConn{brokers: srv.KafkaAddr(), topic: "orders"}
		if mode == modeGroup {
			conn.group = "ehstream-" + tool
		}
		return srv, conn
	}
	srv, ss := startTLS(t, &emulator.Config{KafkaTLSListen: "127.0.0.1:0", Hubs: hubs,
		SASPolicies: []emulator.SASPolicy{{Name: "owner", Key: ownerKey}}})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := ss.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	key := ownerKey
	if mode == modeWrongKey {
		key = wrongKey
	}
	return srv, kafkaConn{brokers: srv.KafkaTLSAddr(), topic: "orders", group: "ehstream-" + tool,
		saslUser: "$ConnectionString", saslPassword: kafkaConnStr(srv, "owner", key, ""), caFile: ca}
}

// checkClientProduce: the 500 records the client produces are the events
// the SDK reads, each once, with value as body, key as x-opt-kafka-key and
// headers as binary properties, and records of one key in one partition.
func checkClientProduce(t *testing.T, ctx context.Context, srv *emulator.Server, tool kafkaTool, runner kafkaRunner, conn kafkaConn) {
	const n = 500
	want := map[string]kafkaRecord{}
	var recs []kafkaRecord
	for i := range n {
		r := kafkaRecord{Key: fmt.Sprintf("key-%d", i%13), Value: fmt.Sprintf("%s-%d", tool.name, i), Headers: map[string]string{"client": tool.name}}
		if !tool.oneHeader {
			r.Headers["index"] = strconv.Itoa(i)
		}
		recs = append(recs, r)
		want[r.Value] = r
	}
	runClient(t, runner.produceCmd(ctx, conn, recs))
	keyPartition := map[string]int{}
	got := 0
	for p, evs := range readHubOverAMQP(t, ctx, srv, conn.topic) {
		for _, ev := range evs {
			r, ok := want[string(ev.Body)]
			if !ok {
				t.Fatalf("partition %d: the SDK read %q, which was not produced or was read twice", p, ev.Body)
			}
			delete(want, r.Value)
			got++
			if k, _ := ev.SystemProperties["x-opt-kafka-key"].([]byte); string(k) != r.Key || ev.PartitionKey != nil {
				t.Fatalf("%s: x-opt-kafka-key %#v, partition key %v; want %q and none", r.Value, ev.SystemProperties["x-opt-kafka-key"], ev.PartitionKey, r.Key)
			}
			if err := sameHeaders(ev.Properties, r.Headers); err != nil {
				t.Fatalf("%s: %v", r.Value, err)
			}
			if q, seen := keyPartition[r.Key]; seen && q != p {
				t.Fatalf("key %s in partitions %d and %d", r.Key, q, p)
			}
			keyPartition[r.Key] = p
		}
	}
	if got != n || len(keyPartition) != 13 {
		t.Fatalf("the SDK read %d of the %d records %s produced, of %d keys (want 13)", got, n, tool.name, len(keyPartition))
	}
	t.Logf("the SDK read the %d records %s produced; partitions of the 13 keys: %v", n, tool.name, keyPartition)
}

// sameHeaders says how an event's application properties differ from the
// headers of the Kafka record it came from (binary values, as the service
// maps them).
func sameHeaders(props map[string]any, headers map[string]string) error {
	if len(props) != len(headers) {
		return fmt.Errorf("properties %v, want headers %v", props, headers)
	}
	for k, v := range headers {
		if b, _ := props[k].([]byte); !bytes.Equal(b, []byte(v)) {
			return fmt.Errorf("property %s = %#v, want %q", k, props[k], v)
		}
	}
	return nil
}

// readHubOverAMQP reads every event of a hub with the SDK, by partition.
func readHubOverAMQP(t *testing.T, ctx context.Context, srv *emulator.Server, hub string) map[int][]*azeventhubs.ReceivedEventData {
	t.Helper()
	cc := consumer(t, srv, hub, azeventhubs.DefaultConsumerGroup)
	hp, err := cc.GetEventHubProperties(ctx, nil)
	if err != nil {
		t.Fatalf("hub properties: %v", err)
	}
	out := map[int][]*azeventhubs.ReceivedEventData{}
	for p, id := range hp.PartitionIDs {
		pp, err := cc.GetPartitionProperties(ctx, id, nil)
		if err != nil {
			t.Fatalf("partition %s properties: %v", id, err)
		}
		if pp.IsEmpty {
			continue
		}
		pc, err := cc.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: new(true)}})
		if err != nil {
			t.Fatalf("partition client %s: %v", id, err)
		}
		out[p] = receive(t, ctx, pc, int(pp.LastEnqueuedSequenceNumber+1))
		pc.Close(ctx)
	}
	return out
}

// checkClientConsume: the client reads all 4 partitions from the start
// and gets exactly the 200 events the SDK sent, each at its partition and
// sequence number, with its properties and partition key as headers. In a
// group, it commits what it read: a second run of the group, after the SDK
// sent 10 more events a partition, reads exactly those.
func checkClientConsume(t *testing.T, ctx context.Context, srv *emulator.Server, runner kafkaRunner, conn kafkaConn) {
	const first, more = 50, 10
	sendIndexedEvents(t, ctx, srv, conn.topic, 0, first)
	checkConsumed(t, consumeWith(t, ctx, runner, conn, 4*first), 0, first)
	if conn.group == "" {
		return
	}
	sendIndexedEvents(t, ctx, srv, conn.topic, first, more)
	checkConsumed(t, consumeWith(t, ctx, runner, conn, 4*more), first, more)
}

// sendIndexedEvents has the SDK send n events to each of the 4
// partitions, the i-th (from from) with body sdk-PARTITION-i and property
// index=i: on an empty hub, i is the event's sequence number.
func sendIndexedEvents(t *testing.T, ctx context.Context, srv *emulator.Server, hub string, from, n int) {
	t.Helper()
	p := producer(t, srv, hub)
	for part := range 4 {
		var evs []*azeventhubs.EventData
		for i := from; i < from+n; i++ {
			evs = append(evs, &azeventhubs.EventData{Body: fmt.Appendf(nil, "sdk-%d-%d", part, i), Properties: map[string]any{"index": fmt.Appendf(nil, "%d", i)}})
		}
		sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: new(strconv.Itoa(part))}, evs...)
	}
}

// checkConsumed: got is exactly the events of sendIndexedEvents(from, n),
// each once, at its partition and offset, with its index header alone.
func checkConsumed(t *testing.T, got []kafkaRecord, from, n int) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range got {
		want := fmt.Sprintf("sdk-%d-%d", r.Partition, r.Offset)
		if r.Value != want || seen[want] || r.Offset < int64(from) || r.Offset >= int64(from+n) {
			t.Fatalf("read %q at partition %d offset %d (seen before: %v), want %q once, offsets %d..%d", r.Value, r.Partition, r.Offset, seen[want], want, from, from+n-1)
		}
		seen[want] = true
		if r.Headers["index"] != strconv.FormatInt(r.Offset, 10) || len(r.Headers) != 1 {
			t.Fatalf("%s: headers %v, want only index=%d", r.Value, r.Headers, r.Offset)
		}
	}
	if len(seen) != 4*n {
		t.Fatalf("read %d distinct events, want %d", len(seen), 4*n)
	}
}

// checkClientRefused: a client with a wrong key reports its own words for
// a failed SASL authentication, without the key, and exits with an error
// promptly (it does not retry for ever); nothing reached the hub.
func checkClientRefused(t *testing.T, ctx context.Context, srv *emulator.Server, tool kafkaTool, runner kafkaRunner, conn kafkaConn) {
	const prompt = 20 * time.Second
	cmdCtx, cancel := context.WithTimeout(ctx, 2*prompt)
	defer cancel()
	cmd := runner.produceCmd(cmdCtx, conn, []kafkaRecord{{Key: "k", Value: "refused", Headers: map[string]string{"client": tool.name}}})
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	out := stderr.String()
	switch {
	case err == nil:
		t.Fatalf("%s produced with a wrong key; it printed:\n%s", tool.name, out)
	case !strings.Contains(out, tool.authFailed):
		t.Fatalf("%s with a wrong key: %v, printed no %q:\n%s", tool.name, err, tool.authFailed, out)
	case took > prompt:
		t.Fatalf("%s took %v to give up with a wrong key, want under %v", tool.name, took, prompt)
	case strings.Contains(out, wrongKey) || strings.Contains(out, ownerKey):
		t.Fatalf("%s's report shows a key:\n%s", tool.name, out)
	}
	if evs := readHubOverAMQP(t, ctx, srv, conn.topic); len(evs) != 0 {
		t.Fatalf("the hub holds events after a refused producer: %v", evs)
	}
	t.Logf("%s refused in %v: %s", tool.name, took.Round(time.Millisecond), firstLineWith(out, tool.authFailed))
}

func firstLineWith(text, sub string) string {
	for line := range strings.Lines(text) {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// kafkaMissing skips the test for a missing client, or fails it where the
// clients must be there (CI).
func kafkaMissing(t *testing.T, what, cure string, err error) {
	t.Helper()
	if os.Getenv("EHSTREAM_TEST_KAFKA_CLIENTS") != "" || os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (%v); %s", what, err, cure)
	}
	t.Skipf("needs %s (%v): %s", what, err, cure)
}

// scriptRunner runs a client script of testdata that takes the records on
// stdin (produce) and prints the records it read (consume), as JSON lines.
type scriptRunner struct{ argv []string }

func (s scriptRunner) produceCmd(ctx context.Context, c kafkaConn, recs []kafkaRecord) *exec.Cmd {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, r := range recs {
		// A map and strings always encode.
		_ = enc.Encode(struct {
			Key     string            `json:"key"`
			Value   string            `json:"value"`
			Headers map[string]string `json:"headers"`
		}{r.Key, r.Value, r.Headers})
	}
	return clientCmd(ctx, c.env(len(recs)), &in, append(s.argv, "produce")...)
}

func (s scriptRunner) consumeCmd(ctx context.Context, c kafkaConn, count int) *exec.Cmd {
	return clientCmd(ctx, c.env(count), nil, append(s.argv, "consume")...)
}

func (s scriptRunner) parse(t *testing.T, out []byte) []kafkaRecord {
	var recs []kafkaRecord
	for line := range strings.Lines(string(out)) {
		var r kafkaRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s printed %q: %v", s.argv[0], line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// clientCmd is a client's command with env added and stdin.
func clientCmd(ctx context.Context, env []string, stdin *bytes.Buffer, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	return cmd
}

// runClient runs a client's command and returns what it printed; the test
// fails, with its stderr, when it fails or when librdkafka reports a
// protocol error (it logs one, "PROTOERR", and goes on).
func runClient(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shownArgs(cmd.Args), err, stderr.Bytes())
	}
	if bytes.Contains(stderr.Bytes(), []byte("PROTOERR")) {
		t.Fatalf("%s reports a protocol error:\n%s", shownArgs(cmd.Args), stderr.Bytes())
	}
	return out
}

// shownArgs is a command line to show, without the SASL password (kcat
// takes it as an argument): a connection string holds a key.
func shownArgs(argv []string) string {
	shown := slices.Clone(argv)
	for i, a := range shown {
		if strings.HasPrefix(a, "sasl.password=") {
			shown[i] = "sasl.password=" + emulator.KeyPlaceholder
		}
	}
	return strings.Join(shown, " ")
}

// consumeWith runs the client's consume command and reads what it printed.
func consumeWith(t *testing.T, ctx context.Context, r kafkaRunner, c kafkaConn, count int) []kafkaRecord {
	t.Helper()
	return r.parse(t, runClient(t, r.consumeCmd(ctx, c, count)))
}

// needKafkaJS finds node and kafkajs (`npm ci` in testdata/kafkajs).
func needKafkaJS(t *testing.T) kafkaRunner {
	t.Helper()
	dir, _ := filepath.Abs("testdata/kafkajs")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "kafkajs"))
	}
	if err != nil {
		kafkaMissing(t, "node with kafkajs", "run `npm ci` in emulator/testdata/kafkajs", err)
	}
	return scriptRunner{argv: []string{node, filepath.Join(dir, "client.js")}}
}

// needConfluentKafka finds Debian's python3-confluent-kafka.
func needConfluentKafka(t *testing.T) kafkaRunner {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		kafkaMissing(t, python+" with confluent_kafka", "apt-get install python3-confluent-kafka", fmt.Errorf("%v: %s", err, out))
	}
	script, _ := filepath.Abs("testdata/kafkapy/client.py")
	return scriptRunner{argv: []string{python, script}}
}

// kcatRunner runs kcat (librdkafka): produce from lines key<TAB>value with
// -H headers (the same on every record), consume every partition from the
// beginning to its end (-o beginning -e) with JSON envelopes (-J).
type kcatRunner struct{ kcat string }

// needKcat finds Debian's kcat.
func needKcat(t *testing.T) kafkaRunner {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		kafkaMissing(t, "kcat", "apt-get install kcat", err)
	}
	return kcatRunner{kcat: kcat}
}

// args are kcat's connection flags: broker, SASL PLAIN, TLS.
func (k kcatRunner) args(c kafkaConn) []string {
	args := []string{k.kcat, "-b", c.brokers, "-t", c.topic, "-X", "compression.codec=none"}
	protocol := "PLAINTEXT"
	if c.saslUser != "" {
		args = append(args, "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username="+c.saslUser, "-X", "sasl.password="+c.saslPassword)
		protocol = "SASL_PLAINTEXT"
	}
	if c.caFile != "" {
		args = append(args, "-X", "ssl.ca.location="+c.caFile)
		protocol = strings.Replace(protocol, "PLAINTEXT", "SSL", 1)
	}
	return append(args, "-X", "security.protocol="+protocol)
}

func (k kcatRunner) produceCmd(ctx context.Context, c kafkaConn, recs []kafkaRecord) *exec.Cmd {
	// librdkafka does not produce idempotently unless asked to.
	args := append(k.args(c), "-P", "-K", "\t", "-X", "acks=all")
	for name, v := range recs[0].Headers {
		args = append(args, "-H", name+"="+v)
	}
	var in bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&in, "%s\t%s\n", r.Key, r.Value)
	}
	return clientCmd(ctx, nil, &in, args...)
}

// consumeCmd: in a group (-G), a partition without a committed offset
// starts at the beginning (auto.offset.reset; -o would override committed
// offsets too), and kcat commits what it read as it closes.
func (k kcatRunner) consumeCmd(ctx context.Context, c kafkaConn, count int) *exec.Cmd {
	args := append(k.args(c), "-C", "-o", "beginning", "-e", "-J", "-c", strconv.Itoa(count))
	if c.group != "" {
		args = append(k.args(c), "-G", c.group, "-X", "auto.offset.reset=earliest", "-e", "-J", "-c", strconv.Itoa(count), c.topic)
	}
	return clientCmd(ctx, nil, nil, args...)
}

func (k kcatRunner) parse(t *testing.T, out []byte) []kafkaRecord {
	var recs []kafkaRecord
	for line := range strings.Lines(string(out)) {
		var env struct {
			Partition int32    `json:"partition"`
			Offset    int64    `json:"offset"`
			Key       *string  `json:"key"`
			Payload   string   `json:"payload"`
			Headers   []string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			t.Fatalf("kcat printed %q: %v", line, err)
		}
		r := kafkaRecord{Partition: env.Partition, Offset: env.Offset, Value: env.Payload, Headers: map[string]string{}}
		for i := 0; i+1 < len(env.Headers); i += 2 {
			r.Headers[env.Headers[i]] = env.Headers[i+1]
		}
		recs = append(recs, r)
	}
	return recs
}
