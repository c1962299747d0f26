package emulator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

// TestLastEnqueuedPropertiesJavaScript: the JavaScript SDK's subscribe with
// trackLastEnqueuedEventProperties reports, in
// context.lastEnqueuedEventProperties, the partition's last enqueued event
// as $management reports it (on e3202bd: {}).
func TestLastEnqueuedPropertiesJavaScript(t *testing.T) {
	js := needJS(t)
	srv := start(t, nil)
	checkLastEnqueuedInSDK(t, srv, func(ctx context.Context) *exec.Cmd {
		return js.command(ctx, []string{"EH_CONNECTION_STRING=" + srv.ConnectionString(""), "EH_HUB=eh1", "EH_PARTITION=0", "EH_PHASES=3,2"}, "lastenqueued.js")
	})
}

// TestLastEnqueuedPropertiesPython: the Python SDK's receive with
// track_last_enqueued_event_properties reports, in
// partition_context.last_enqueued_event_properties, the partition's last
// enqueued event as $management reports it (on e3202bd: None). Its
// azure-eventhub 5.11 speaks AMQP over TLS on port 5671 only, so it comes
// in over WebSockets with TLS.
func TestLastEnqueuedPropertiesPython(t *testing.T) {
	needPython(t)
	srv, ss := startTLS(t, &emulator.Config{WebSocketListen: "127.0.0.1:0"})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := ss.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/python")
	_, wsPort, _ := net.SplitHostPort(srv.WebSocketAddr())
	checkLastEnqueuedInSDK(t, srv, func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, python, "lastenqueued.py")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "EH_CONNECTION_STRING="+srv.TLSConnectionString(""),
			"EH_WEBSOCKET_ENDPOINT=sb://localhost:"+wsPort, "EH_CA_FILE="+ca,
			"EH_HUB=eh1", "EH_PARTITION=0", "EH_PHASES=3,2")
		return cmd
	})
}

// sdkEvent is what testdata/js/lastenqueued.js and
// testdata/python/lastenqueued.py print for each event: its sequence
// number and the SDK's last-enqueued event properties when it had it.
type sdkEvent struct {
	Seq  int64 `json:"seq"`
	Last *struct {
		SequenceNumber *int64  `json:"sequenceNumber"`
		Offset         *string `json:"offset"`
		EnqueuedOn     *int64  `json:"enqueuedOn"`
		RetrievedOn    *int64  `json:"retrievedOn"`
	} `json:"last"`
}

// checkLastEnqueuedInSDK has an SDK's script read partition 0 of eh1 in
// two phases: the events there when it starts, then a batch sent while it
// waits. With every event, the SDK's last-enqueued event properties must
// equal what $management reports at the same moment: no event is sent
// between the READ and the SDK's read, and a second READ after it proves
// that; they were retrieved while the script read.
func checkLastEnqueuedInSDK(t *testing.T, srv *emulator.Server, command func(ctx context.Context) *exec.Cmd) {
	ctx := testCtx(t, 120*time.Second)
	p := producer(t, srv, "eh1")
	if err := sendN(ctx, p, "1", "other", 0, 5); err != nil { // partition 1's last is not partition 0's
		t.Fatal(err)
	}
	if err := sendN(ctx, p, "0", "before", 0, 3); err != nil {
		t.Fatal(err)
	}
	want := partitionLastEnqueued(t, ctx, p, "0")
	from := time.Now()
	run := startPhases(t, command(ctx))
	checkSDKPhase(t, "phase 1", run.next(ctx), 0, 3, want, from, time.Now())
	if again := partitionLastEnqueued(t, ctx, p, "0"); !again.equal(want) {
		t.Fatalf("partition 0 changed during phase 1: %s, then %s", want, again)
	}

	from = time.Now()
	if err := sendN(ctx, p, "0", "live", 0, 2); err != nil { // one batch: appended at once
		t.Fatal(err)
	}
	want = partitionLastEnqueued(t, ctx, p, "0")
	run.proceed()
	checkSDKPhase(t, "phase 2", run.next(ctx), 3, 2, want, from, time.Now())
	if again := partitionLastEnqueued(t, ctx, p, "0"); !again.equal(want) {
		t.Fatalf("partition 0 changed during phase 2: %s, then %s", want, again)
	}
	run.wait()
}

// checkSDKPhase checks that a phase read the n events from firstSeq on,
// each with want as the last enqueued event, retrieved within [from,
// until].
func checkSDKPhase(t *testing.T, what string, events []sdkEvent, firstSeq int64, n int, want lastEnqueuedProps, from, until time.Time) {
	t.Helper()
	if len(events) != n {
		t.Fatalf("%s: %d events, want %d: %s", what, len(events), n, jsonOf(events))
	}
	for i, e := range events {
		if e.Seq != firstSeq+int64(i) {
			t.Fatalf("%s: event %d has sequence number %d, want %d", what, i, e.Seq, firstSeq+int64(i))
		}
		l := e.Last
		if l == nil || l.SequenceNumber == nil || l.Offset == nil || l.EnqueuedOn == nil || l.RetrievedOn == nil {
			t.Fatalf("%s: event %d came with incomplete last-enqueued event properties %s", what, e.Seq, jsonOf(e.Last))
		}
		got := lastEnqueuedProps{*l.SequenceNumber, *l.Offset, time.UnixMilli(*l.EnqueuedOn)}
		if !got.equal(want) {
			t.Fatalf("%s: event %d says the last enqueued event is %s, want the partition's %s", what, e.Seq, got, want)
		}
		retrieved := time.UnixMilli(*l.RetrievedOn)
		if retrieved.Before(from.Truncate(time.Millisecond)) || retrieved.After(until) || retrieved.Before(want.At) {
			t.Fatalf("%s: event %d: retrieved at %s, want within [%s, %s] and not before the last event's %s", what, e.Seq, retrieved, from, until, want.At)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// phaseRun is a running script that prints a JSON line after each phase
// and waits for a line on stdin before the next.
type phaseRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // stdout, closed at its end
	done   chan struct{}
	stderr *bytes.Buffer
	phase  int
}

func startPhases(t *testing.T, cmd *exec.Cmd) *phaseRun {
	t.Helper()
	r := &phaseRun{t: t, cmd: cmd, lines: make(chan []byte), done: make(chan struct{}), stderr: &bytes.Buffer{}}
	cmd.Stderr = r.stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(r.done)
		r.stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			select {
			case r.lines <- bytes.Clone(sc.Bytes()):
			case <-r.done:
				return
			}
		}
	}()
	return r
}

// next returns the events of the next phase, failing the test when the
// script ends or ctx does first.
func (r *phaseRun) next(ctx context.Context) []sdkEvent {
	r.t.Helper()
	r.phase++
	var line []byte
	var ok bool
	select {
	case line, ok = <-r.lines:
	case <-ctx.Done():
	}
	if !ok {
		r.cmd.Process.Kill()
		err := r.cmd.Wait()
		r.t.Fatalf("%s ended before phase %d (%v, test context: %v):\n%s", filepath.Base(r.cmd.Path), r.phase, err, ctx.Err(), r.stderr)
	}
	var out struct {
		Phase  int        `json:"phase"`
		Events []sdkEvent `json:"events"`
	}
	if err := json.Unmarshal(line, &out); err != nil || out.Phase != r.phase {
		r.t.Fatalf("phase %d: %q (%v)", r.phase, line, err)
	}
	return out.Events
}

// proceed lets the script go on to its next phase.
func (r *phaseRun) proceed() {
	r.t.Helper()
	if _, err := fmt.Fprintln(r.stdin, "next"); err != nil {
		r.t.Fatalf("telling the script to go on: %v", err)
	}
}

// wait waits for the script to end, as it does after its last phase,
// with nothing more on stdout.
func (r *phaseRun) wait() {
	r.t.Helper()
	r.stdin.Close()
	for line := range r.lines {
		r.t.Errorf("%s after its last phase: %q", filepath.Base(r.cmd.Path), line)
	}
	if err := r.cmd.Wait(); err != nil {
		r.t.Fatalf("%s after its last phase: %v\n%s", filepath.Base(r.cmd.Path), err, r.stderr)
	}
}
