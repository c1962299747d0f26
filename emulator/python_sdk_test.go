package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

// python is the interpreter the Python SDK test runs: Debian's, which
// has Debian's python3-azure (azure-eventhub 5.11), python3-websocket and
// python3-aiohttp, rather than whichever python3 comes first in PATH.
const python = "/usr/bin/python3"

// needPython skips the test without the Python SDK and the packages its
// WebSocket transports use, unless EHSTREAM_TEST_PYTHON is set (CI),
// which fails it; it returns the SDK's version.
func needPython(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(python, "-c", "import websocket, aiohttp, azure.eventhub as eh; print(eh.__version__)").CombinedOutput()
	if err != nil {
		if os.Getenv("EHSTREAM_TEST_PYTHON") != "" {
			t.Fatalf("EHSTREAM_TEST_PYTHON is set but %s cannot import the Python SDK: %v\n%s", python, err, out)
		}
		t.Skipf("needs %s with azure-eventhub, websocket-client and aiohttp (apt-get install python3-azure python3-websocket python3-aiohttp)", python)
	}
	return strings.TrimSpace(string(out))
}

// pythonScenario is one run of a script of testdata/python: its API, its
// transport and whether the emulator checks SAS tokens.
type pythonScenario struct {
	script    string // sync_sdk.py or async_sdk.py
	websocket bool
	sas       bool
}

func (sc pythonScenario) name() string {
	api, tr, mode := strings.TrimSuffix(sc.script, "_sdk.py"), "amqps", "dev"
	if sc.websocket {
		tr = "wss"
	}
	if sc.sas {
		mode = "sas"
	}
	return api + "-" + tr + "-" + mode
}

// hubs are the hubs the scenario uses, its own: events of another run
// would change what it reads.
func (sc pythonScenario) hubs() []emulator.HubConfig {
	name := strings.ReplaceAll(sc.name(), "-", "")
	return []emulator.HubConfig{
		{Name: name, PartitionCount: 2, ConsumerGroups: []string{"cg1"}},
		{Name: name + "pos", PartitionCount: 1, ConsumerGroups: []string{"cg1"}},
	}
}

// TestPythonSDK runs the official Python SDK (azure-eventhub 5.11)
// unmodified against the emulator, sync and async, over TLS (amqps, the
// certificate verified against the emulator's CA) and over WebSockets, in
// development mode and with a SAS policy: hub and partition properties,
// batch sends to a partition, with a partition key and without, every
// kind of starting position, receive_batch, owner-level takeover and two
// load-balanced consumers sharing the SDK's in-memory checkpoint store.
// CI installs the SDK (EHSTREAM_TEST_PYTHON=1 makes its absence a
// failure).
func TestPythonSDK(t *testing.T) {
	t.Logf("azure-eventhub %s", needPython(t))
	var scenarios []pythonScenario
	for _, script := range []string{"sync_sdk.py", "async_sdk.py"} {
		for _, websocket := range []bool{false, true} {
			for _, sas := range []bool{false, true} {
				scenarios = append(scenarios, pythonScenario{script, websocket, sas})
			}
		}
	}
	const key = "cHl0aG9uLXNkay1rZXktMDEyMzQ1Njc4OWFiY2RlZmc="
	servers := map[bool]*pythonEmulator{}
	for _, sas := range []bool{false, true} {
		var hubs []emulator.HubConfig
		for _, sc := range scenarios {
			if sc.sas == sas {
				hubs = append(hubs, sc.hubs()...)
			}
		}
		cfg := &emulator.Config{Hubs: hubs, WebSocketListen: "127.0.0.1:0"}
		if sas {
			cfg.SASPolicies = []emulator.SASPolicy{{Name: "py", Key: key}}
		}
		servers[sas] = startPythonEmulator(t, cfg)
	}
	// The scripts mostly wait on the network: all eight at once, whatever
	// -parallel says (about 15 s in all on two cores, as long as one).
	runs := make([]pythonRun, len(scenarios))
	var wg sync.WaitGroup
	for i, sc := range scenarios {
		wg.Go(func() { runs[i] = servers[sc.sas].run(sc, key) })
	}
	wg.Wait()
	for i, sc := range scenarios {
		t.Run(sc.name(), func(t *testing.T) {
			run, e := runs[i], servers[sc.sas]
			if run.err != nil {
				t.Fatalf("%s %s: %v\n%s\nemulator log:\n%s", python, sc.script, run.err, run.stderr, e.logs)
			}
			t.Logf("took %s", run.took.Round(100*time.Millisecond))
			var res pythonResult
			if err := json.Unmarshal(run.out, &res); err != nil {
				t.Fatalf("output %q: %v", run.out, err)
			}
			res.check(t, sc.hubs(), sc.sas)
			if sc.sas && !strings.Contains(e.logs.String(), "bad signature") {
				t.Errorf("the emulator did not log refusing the token of the wrong key as a bad signature")
			}
		})
	}
}

// pythonRun is what a run of a script gave.
type pythonRun struct {
	out    []byte
	stderr string
	err    error
	took   time.Duration
}

// run runs the scenario's script against e, with the settings it takes
// from the environment.
func (e *pythonEmulator) run(sc pythonScenario, key string) pythonRun {
	hubs := sc.hubs()
	env := []string{
		"EH_CONNECTION_STRING=" + e.srv.TLSConnectionString(""),
		"EH_HUB=" + hubs[0].Name, "EH_POSITIONS_HUB=" + hubs[1].Name, "EH_CA=" + e.caFile,
	}
	if sc.websocket {
		_, port, _ := net.SplitHostPort(e.srv.WebSocketAddr())
		env = append(env, "EH_TRANSPORT=websocket", "EH_WS_ENDPOINT=sb://localhost:"+port)
	}
	if sc.sas {
		wrong := strings.Replace(e.srv.TLSConnectionString(""), key, "d3Jvbmcta2V5LTAxMjM0NTY3ODlhYmNkZWY=", 1)
		env = append(env, "EH_WRONG_KEY_CONNECTION_STRING="+wrong)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, sc.script)
	cmd.Dir = "testdata/python"
	cmd.Env = append(append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), env...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	began := time.Now()
	out, err := cmd.Output()
	return pythonRun{out: out, stderr: stderr.String(), err: err, took: time.Since(began)}
}

// pythonEmulator is an emulator for the Python SDK: AMQP over TLS on port
// 5671, the only port the SDK dials for it, on a loopback address of its
// own, and WebSockets over TLS.
type pythonEmulator struct {
	srv    *emulator.Server
	host   string // the address TLS listens on, port 5671
	caFile string
	logs   *syncBuffer
}

// startPythonEmulator starts cfg with TLS on port 5671 of a random
// address of 127.0.0.0/8 (named in its certificate), trying another when
// that one is taken.
func startPythonEmulator(t *testing.T, cfg *emulator.Config) *pythonEmulator {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	for attempt := 0; ; attempt++ {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
		ss, err := emulator.SelfSignedTLS("", []string{ip})
		if err != nil {
			t.Fatal(err)
		}
		c := *cfg
		c.TLS, c.TLSListen = ss.ServerConfig(), net.JoinHostPort(ip, strconv.Itoa(emulator.DefaultTLSPort))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		srv, err := emulator.Start(ctx, &c)
		cancel()
		if errors.Is(err, syscall.EADDRINUSE) && attempt < 5 {
			continue
		}
		if err != nil {
			t.Fatalf("start emulator: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Errorf("close emulator: %v", err)
			}
		})
		e := &pythonEmulator{srv: srv, host: ip, caFile: filepath.Join(t.TempDir(), "ca.pem"), logs: logs}
		if err := ss.WriteCAFile(e.caFile); err != nil {
			t.Fatal(err)
		}
		return e
	}
}

// pyEvent is an event as the scripts report it.
type pyEvent struct {
	Body      string `json:"body"`
	Seq       int64  `json:"seq"`
	Offset    string `json:"offset"`
	Key       string `json:"key"` // its partition key, if any
	Partition string `json:"partition"`
}

type pyError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// pythonResult is what a script of testdata/python prints.
type pythonResult struct {
	Hub struct {
		Name         string   `json:"eventhub_name"`
		PartitionIDs []string `json:"partition_ids"`
	} `json:"hub"`
	Partition struct {
		Name    string `json:"eventhub_name"`
		ID      string `json:"id"`
		Begin   int64  `json:"beginning_sequence_number"`
		Last    int64  `json:"last_enqueued_sequence_number"`
		Offset  string `json:"last_enqueued_offset"`
		IsEmpty bool   `json:"is_empty"`
	} `json:"partition"`
	Positions    map[string]pyEvent `json:"positions"`
	ReceiveBatch [][]pyEvent        `json:"receive_batch"`
	OwnerLevel   struct {
		LowError    pyError `json:"low_error"`
		HighEvents  int     `json:"high_events"`
		LowerError  pyError `json:"lower_error"`
		LowerEvents int     `json:"lower_events"`
	} `json:"owner_level"`
	LoadBalancing []struct {
		Owned  []string  `json:"owned"`
		Events []pyEvent `json:"events"`
	} `json:"load_balancing"`
	WrongKey *pyError `json:"wrong_key"`
}

func (r *pythonResult) check(t *testing.T, hubs []emulator.HubConfig, sas bool) {
	t.Helper()
	if r.Hub.Name != hubs[0].Name || !slices.Equal(r.Hub.PartitionIDs, []string{"0", "1"}) {
		t.Errorf("hub properties: %+v", r.Hub)
	}
	if p := r.Partition; p.Name != hubs[1].Name || p.ID != "0" || p.Begin != 0 || p.Last != 4 || p.IsEmpty || p.Offset == "" {
		t.Errorf("partition properties: %+v, want events 0 to 4", p)
	}
	r.checkPositions(t)
	var batched []pyEvent
	for _, b := range r.ReceiveBatch {
		if len(b) == 0 || len(b) > 5 {
			t.Errorf("receive_batch gave a batch of %d events, want 1 to 5", len(b))
		}
		batched = append(batched, b...)
	}
	for i := range 5 {
		if i >= len(batched) || batched[i].Body != fmt.Sprint("rb-", i) || batched[i].Seq != int64(i) || batched[i].Partition != "0" {
			t.Fatalf("receive_batch gave %+v, want rb-0 to rb-4 of partition 0 first", batched)
		}
	}
	ol := r.OwnerLevel
	if !strings.Contains(ol.LowError.Message, "amqp:link:stolen") || ol.HighEvents == 0 {
		t.Errorf("owner level 2 after 1: the first reader got %+v, the second %d events; want amqp:link:stolen, and events", ol.LowError, ol.HighEvents)
	}
	if !strings.Contains(ol.LowerError.Message, "amqp:link:stolen") || ol.LowerEvents != 0 {
		t.Errorf("owner level 1 after 2: %+v and %d events, want amqp:link:stolen and none", ol.LowerError, ol.LowerEvents)
	}
	r.checkLoadBalancing(t)
	switch {
	case sas && (r.WrongKey == nil || r.WrongKey.Type != "AuthenticationError"):
		t.Errorf("a connection string with a wrong key: %+v, want an AuthenticationError", r.WrongKey)
	case !sas && r.WrongKey != nil:
		t.Errorf("wrong_key in development mode: %+v", r.WrongKey)
	}
}

// checkPositions: the first event each kind of starting position gave,
// of pos-0..pos-4 (pos-2 enqueued a millisecond or more after pos-1).
func (r *pythonResult) checkPositions(t *testing.T) {
	t.Helper()
	want := map[string]string{
		"earliest": "pos-0", "sequence_exclusive": "pos-3", "sequence_inclusive": "pos-2",
		"offset_exclusive": "pos-3", "offset_inclusive": "pos-2",
		"enqueued_time_exclusive": "pos-2", "enqueued_time_inclusive": "pos-2",
	}
	for kind, body := range want {
		if got, ok := r.Positions[kind]; !ok || got.Body != body || got.Seq != int64(body[len(body)-1]-'0') {
			t.Errorf("starting position %s gave %+v first, want %s", kind, got, body)
		}
	}
	if got := r.Positions["latest"]; !strings.HasPrefix(got.Body, "latest-") {
		t.Errorf("starting position latest gave %+v first, want an event sent after it attached", got)
	}
}

// checkLoadBalancing: two consumers of one group, sharing a checkpoint
// store, end up with a partition each and have read every event; the
// keyed events went to one partition, the keyless ones to both.
func (r *pythonResult) checkLoadBalancing(t *testing.T) {
	t.Helper()
	if len(r.LoadBalancing) != 2 {
		t.Fatalf("load balancing: %d consumers reported, want 2", len(r.LoadBalancing))
	}
	owned := map[string]int{}
	partitionOf := map[string]map[string]bool{}
	for i, c := range r.LoadBalancing {
		if len(c.Owned) != 1 {
			t.Errorf("consumer %d owns partitions %v, want one", i, c.Owned)
		}
		for _, p := range c.Owned {
			owned[p]++
		}
		for _, e := range c.Events {
			prefix, _, _ := strings.Cut(e.Body, "-")
			wantKey := ""
			if prefix == "key" {
				wantKey = "k1"
			}
			if e.Key != wantKey {
				t.Errorf("event %s has partition key %q, want %q", e.Body, e.Key, wantKey)
			}
			if partitionOf[prefix] == nil {
				partitionOf[prefix] = map[string]bool{}
			}
			partitionOf[prefix][e.Partition] = true
		}
	}
	seen := map[string]bool{}
	for _, c := range r.LoadBalancing {
		for _, e := range c.Events {
			seen[e.Body] = true
		}
	}
	want := []string{"ol-0", "rr-0", "rr-1", "rr-2", "rr-3"}
	for i := range 5 {
		want = append(want, fmt.Sprint("rb-", i))
	}
	for i := range 6 {
		want = append(want, fmt.Sprintf("key-%d-%d", i/3, i%3))
	}
	for _, body := range want {
		if !seen[body] {
			t.Errorf("the load-balanced consumers did not read %s", body)
		}
	}
	if len(owned) != 2 || owned["0"] != 1 || owned["1"] != 1 {
		t.Errorf("partitions owned: %v, want each of 0 and 1 by one consumer", owned)
	}
	if len(partitionOf["key"]) != 1 {
		t.Errorf("events with partition key k1 went to partitions %v, want one", partitionOf["key"])
	}
	if len(partitionOf["rr"]) != 2 {
		t.Errorf("four keyless batches went to partitions %v, want them spread", partitionOf["rr"])
	}
}

// TestReadmePython runs the README's Python block as written, in a
// directory holding the CA file it names, against an emulator started as
// the README starts it (TLS on port 5671, WebSockets beside it) but on an
// address of its own: the block's sb://localhost/ and port 5443 become
// that address and the WebSocket listener's port.
func TestReadmePython(t *testing.T) {
	needPython(t)
	block := readmePythonBlock(t)
	e := startPythonEmulator(t, &emulator.Config{WebSocketListen: "127.0.0.1:0"})
	_, wsPort, _ := net.SplitHostPort(e.srv.WebSocketAddr())
	printed := strings.Replace(e.srv.TLSConnectionString(""), "sb://"+e.host+"/", "sb://localhost/", 1)
	if !strings.Contains(block, `"`+printed+`"`) {
		t.Errorf("the README's Python block does not use the TLS connection string the emulator prints on port 5671, %s", printed)
	}
	for from, to := range map[string]string{"sb://localhost/": "sb://" + e.host + "/", "sb://localhost:5443": "sb://localhost:" + wsPort} {
		if !strings.Contains(block, from) {
			t.Fatalf("the README's Python block no longer says %s: update TestReadmePython", from)
		}
		block = strings.ReplaceAll(block, from, to)
	}
	dir := t.TempDir()
	ca, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "emulator-ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "readme.py"), []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testCtx(t, 60*time.Second), python, "readme.py")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README's Python block: %v\n%s%s\nemulator log:\n%s", err, out, stderr.String(), e.logs)
	}
	if want := "['0', '1']\nhello from Python at sequence number 0\n"; string(out) != want {
		t.Fatalf("the README's Python block printed %q, want %q", out, want)
	}
}

// readmePythonBlock is the README's one ```python block, without the
// indentation of the list item it is in.
func readmePythonBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	indent, in := "", false
	for _, line := range strings.Split(string(readme), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !in && trimmed == "```python":
			in, indent, cur = true, line[:len(line)-len(trimmed)], nil
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, strings.TrimPrefix(line, indent))
		}
	}
	if len(blocks) != 1 {
		t.Fatalf("the README has %d ```python blocks, want 1", len(blocks))
	}
	return blocks[0]
}
