package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// buildBinary compiles ehstream once per test binary run, as go run does
// (no VCS stamping: the README's `go run ./cmd/ehstream version` output).
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ehstream-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ehstream")
	out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// emulatorProcess is `ehstream emulator` running as a child process.
type emulatorProcess struct {
	cmd     *exec.Cmd
	connStr string
	health  string // the /health URL, with --http or --health
	kafka   string // the Kafka address, with --kafka-listen
	stderr  lockedBuffer
	exited  chan error
}

var (
	connStrRE = regexp.MustCompile(`connection string: (\S+)`)
	healthRE  = regexp.MustCompile(`health: +(\S+)`)
	kafkaRE   = regexp.MustCompile(`Kafka \(kafka\): +(\S+)`)
)

func startEmulatorProcess(t *testing.T, args ...string) *emulatorProcess {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return runEmulatorProcess(t, exec.Command(bin, append([]string{"emulator", "--listen", "127.0.0.1:0"}, args...)...))
}

// startEmulatorProcessLimited is startEmulatorProcess with at most nofile
// file descriptors for the child (ulimit -n, hard and soft, so that the
// Go runtime cannot raise it).
func startEmulatorProcessLimited(t *testing.T, nofile int, args ...string) *emulatorProcess {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)
	return runEmulatorProcess(t, exec.Command("sh", append([]string{"-c", script, bin, "emulator", "--listen", "127.0.0.1:0"}, args...)...))
}

// runEmulatorProcess starts an `ehstream emulator` command and waits for
// its connection string (and /health URL, when it serves HTTP).
func runEmulatorProcess(t *testing.T, cmd *exec.Cmd) *emulatorProcess {
	t.Helper()
	args := cmd.Args
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &emulatorProcess{cmd: cmd, exited: make(chan error, 1)}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text() // drained below once the start-up lines are read
		}
		close(lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		p.exited <- nil
	})
	deadline := time.After(30 * time.Second)
	withHTTP := slices.Contains(args, "--http") || slices.Contains(args, "--health")
	withKafka := slices.Contains(args, "--kafka-listen")
	for p.connStr == "" || (withHTTP && p.health == "") || (withKafka && p.kafka == "") {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("ehstream emulator exited before printing its connection string")
			}
			if m := connStrRE.FindStringSubmatch(line); m != nil {
				p.connStr = m[1]
			}
			if m := healthRE.FindStringSubmatch(line); m != nil {
				p.health = m[1]
			}
			if m := kafkaRE.FindStringSubmatch(line); m != nil {
				p.kafka = m[1]
			}
		case <-deadline:
			t.Fatalf("ehstream emulator printed no connection string within 30s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

func TestEmulatorSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a child process")
	}
	dir := t.TempDir()
	first := startEmulatorProcess(t, "--data", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	prod, err := azeventhubs.NewProducerClientFromConnectionString(first.connStr, "eh1", &azeventhubs.ProducerClientOptions{
		RetryOptions: azeventhubs.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())

	// Senders on both partitions keep going until the kill; every batch whose
	// send returned nil was acknowledged and must survive.
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for _, pid := range []string{"0", "1"} {
		wg.Add(1)
		go func(pid string) {
			defer wg.Done()
			for b := 0; ; b++ {
				batch, err := prod.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(pid)})
				if err != nil {
					return
				}
				var ids []string
				for i := 0; i < 20; i++ {
					id := fmt.Sprintf("p%s-b%d-e%d", pid, b, i)
					ids = append(ids, id)
					if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte(id)}, nil); err != nil {
						return
					}
				}
				if err := prod.SendEventDataBatch(ctx, batch, nil); err != nil {
					return
				}
				mu.Lock()
				for _, id := range ids {
					acked[id] = true
				}
				mu.Unlock()
			}
		}(pid)
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 2000 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d events acknowledged before the deadline", n)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, not synchronising
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	first.exited <- nil
	wg.Wait() // senders fail once the process is gone
	mu.Lock()
	want := len(acked)
	mu.Unlock()

	second := startEmulatorProcess(t, "--data", dir)
	cons, err := azeventhubs.NewConsumerClientFromConnectionString(second.connStr, "eh1", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close(context.Background())
	found := 0
	for _, pid := range []string{"0", "1"} {
		props, err := cons.GetPartitionProperties(ctx, pid, nil)
		if err != nil {
			t.Fatal(err)
		}
		total := int(props.LastEnqueuedSequenceNumber + 1)
		pc, err := cons.NewPartitionClient(pid, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		for seen := 0; seen < total; {
			evs, err := pc.ReceiveEvents(ctx, min(total-seen, 1000), nil)
			if err != nil {
				t.Fatalf("partition %s: read %d of %d after restart: %v", pid, seen, total, err)
			}
			for _, e := range evs {
				if e.SequenceNumber != int64(seen) {
					t.Fatalf("partition %s: sequence number %d at position %d", pid, e.SequenceNumber, seen)
				}
				if acked[string(e.Body)] {
					found++
				}
				seen++
			}
		}
		pc.Close(ctx)
	}
	if found != want {
		t.Fatalf("after SIGKILL and restart: %d of %d acknowledged events are there", found, want)
	}
	t.Logf("%d acknowledged events all survived SIGKILL", want)
}

func TestEmulatorCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a child process")
	}
	config := filepath.Join(t.TempDir(), "Config.json")
	os.WriteFile(config, []byte(`{"UserConfig":{"NamespaceConfig":[{"Type":"EventHub","Name":"ns1","Entities":[
		{"Name":"orders","PartitionCount":"3","ConsumerGroups":[{"Name":"audit"}]},
		{"Name":"clicks","PartitionCount":1,"ConsumerGroups":[]}]}],"LoggingConfig":{"Type":"File"}}}`), 0o644)
	p := startEmulatorProcess(t, "--in-memory", "--config", config, "--http", "127.0.0.1:0")
	if !strings.HasSuffix(p.connStr, ";UseDevelopmentEmulator=true") || !strings.Contains(p.connStr, "SharedAccessKeyName=RootManageSharedAccessKey") {
		t.Fatalf("connection string %q", p.connStr)
	}
	resp, err := http.Get(p.health)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /health: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := azeventhubs.NewConsumerClientFromConnectionString(p.connStr, "orders", "audit", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	props, err := c.GetEventHubProperties(ctx, nil)
	if err != nil || len(props.PartitionIDs) != 3 {
		t.Fatalf("orders from Config.json: %+v %v, want 3 partitions", props, err)
	}
	// SIGTERM stops it cleanly.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- nil
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("no exit within 30s of SIGTERM")
	}
}

func TestEmulatorBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"emulator", "--listen", "nonsense"},
		{"emulator", "--log-level", "loud"},
		{"emulator", "--config", "/does/not/exist.json", "--in-memory"},
		{"emulator", "stray"},
		{"emulator", "--in-memory", "--max-inflight-bytes", "lots"},
		{"emulator", "--in-memory", "--max-connections", "0"},
		{"emulator", "--in-memory", "--max-inflight-bytes", "512KiB"}, // less than one 1 MiB event
		{"nosuchcommand"},
	} {
		var out, errOut strings.Builder
		code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		if code == 0 || !strings.Contains(errOut.String(), "ehstream") {
			t.Errorf("ehstream %v: exit %d, stderr %q; want a failure that says what was wrong", args, code, errOut.String())
		}
	}
}
