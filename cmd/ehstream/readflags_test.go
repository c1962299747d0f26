package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// readBodies runs `ehstream read` with args and returns "partition/body"
// of each event printed, sorted; it fails unless the read succeeds.
func readBodies(t *testing.T, cs string, args ...string) []string {
	t.Helper()
	code, out, errOut := cli(t, "", append([]string{"read", "--connection-string", cs}, args...)...)
	if code != 0 {
		t.Fatalf("read %v: exit %d, stderr %q", args, code, errOut)
	}
	var got []string
	for _, ev := range readLinesJSON(t, out) {
		got = append(got, fmt.Sprint(ev["partition"], "/", ev["body"]))
	}
	slices.Sort(got)
	return got
}

// lastEnqueued is when the hub's last event was enqueued.
func lastEnqueued(t *testing.T, cs string) time.Time {
	t.Helper()
	hp, err := eventhubs.DescribeHub(context.Background(), eventhubs.NewConf(cs))
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, b := range hp.Partitions {
		if b.LastEnqueued.After(last) {
			last = b.LastEnqueued
		}
	}
	return last
}

// sendLines sends lines to a partition with `ehstream send`.
func sendLines(t *testing.T, cs, partition, lines string) {
	t.Helper()
	if code, _, errOut := cli(t, lines, "send", "--connection-string", cs, "--partition", partition); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
}

// --partition N reads only that partition (repeatable), with --all,
// --from and --until, or alone (all it holds).
func TestReadPartition(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "parts", PartitionCount: 3})
	cs := srv.ConnectionString("parts")
	for p := range 3 {
		sendLines(t, cs, fmt.Sprint(p), fmt.Sprintf("p%d-a\np%d-b\np%d-c\n", p, p, p))
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--all", "--partition", "1"}, []string{"1/p1-a", "1/p1-b", "1/p1-c"}},
		{[]string{"--partition", "2"}, []string{"2/p2-a", "2/p2-b", "2/p2-c"}},
		{[]string{"--from", "seq:1", "--partition", "0", "--partition", "2"}, []string{"0/p0-b", "0/p0-c", "2/p2-b", "2/p2-c"}},
		{[]string{"--until", "seq:1", "--partition", "1"}, []string{"1/p1-a"}},
	} {
		if got := readBodies(t, cs, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("read %v: %v, want %v", c.args, got, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--partition", "7"}, 1, `--partition 7: no such partition: hub "parts" has partitions 0, 1, 2`},
		{[]string{"--partition", "1", "--range", "1:0:1"}, 2, "--range names its partitions"},
		{[]string{"--partition", ""}, 2, "-partition: empty: give a partition ID"},
	} {
		code, out, errOut := cli(t, "", append([]string{"read", "--connection-string", cs}, c.args...)...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.says) {
			t.Errorf("read %v: exit %d, stdout %q, stderr %q; want exit %d saying %q", c.args, code, out, errOut, c.code, c.says)
		}
	}
}

// --from and --until take a time relative to now, -10m, besides times and
// positions.
func TestReadRelativeTimes(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "rel", PartitionCount: 2})
	cs := srv.ConnectionString("rel")
	sendLines(t, cs, "0", "old1\nold2\n")
	sendLines(t, cs, "1", "old3\n")
	// The new events are sent 3 s after the old, and read at once: 1.5 s
	// before the read falls between them.
	last := lastEnqueued(t, cs)
	for deadline := time.Now().Add(10 * time.Second); time.Since(last) < 3*time.Second; {
		if time.Now().After(deadline) {
			t.Fatalf("the clock did not pass %s", last.Add(3*time.Second))
		}
		time.Sleep(10 * time.Millisecond)
	}
	sendLines(t, cs, "0", "new1\n")
	sendLines(t, cs, "1", "new2\n")
	sent := time.Now()
	newer := readBodies(t, cs, "--from", "-1500ms")
	older := readBodies(t, cs, "--until", "time:-1500ms")
	if time.Since(sent) > 1400*time.Millisecond {
		t.Skipf("the reads took %s: too slow a machine to tell the events apart", time.Since(sent))
	}
	if want := []string{"0/new1", "1/new2"}; !slices.Equal(newer, want) {
		t.Errorf("read --from -1500ms: %v, want %v", newer, want)
	}
	if want := []string{"0/old1", "0/old2", "1/old3"}; !slices.Equal(older, want) {
		t.Errorf("read --until time:-1500ms: %v, want %v", older, want)
	}
	if got := readBodies(t, cs, "--from", "-1h", "--partition", "1"); !slices.Equal(got, []string{"1/new2", "1/old3"}) {
		t.Errorf("read --from -1h --partition 1: %v", got)
	}
	code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--from", "10m")
	if code != 2 || out != "" || !strings.Contains(errOut, `--from: position "10m"`) || !strings.Contains(errOut, "-10m") {
		t.Errorf("read --from 10m: exit %d, stdout %q, stderr %q; want exit 2 naming the value and -10m", code, out, errOut)
	}
}

// --body says how bodies print: auto (the default) prints a JSON object
// or array as JSON, other UTF-8 as text, the rest in base64; text, json
// and base64 print every body one way.
func TestReadBody(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "bodies", PartitionCount: 1})
	cs := srv.ConnectionString("bodies")
	sendLines(t, cs, "0", `{"t":21.5,"unit":"C"}`+"\n"+"[1, 2]\nhello\n"+`"quoted"`+"\n42\n")
	binary := []byte{0xff, 0x00, 0xfe}
	p, err := azeventhubs.NewProducerClientFromConnectionString(cs, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	batch, err := p.NewEventDataBatch(context.Background(), &azeventhubs.EventDataBatchOptions{PartitionID: new(string)})
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.AddEventData(&azeventhubs.EventData{Body: binary}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.SendEventDataBatch(context.Background(), batch, nil); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		flag string
		want []string // each event's "body" and "bodyEncoding", as JSON
	}{
		{"", []string{`{"t":21.5,"unit":"C"}`, `[1,2]`, `"hello"`, `"\"quoted\""`, `"42"`, `"` + b64(string(binary)) + `" base64`}},
		{"auto", []string{`{"t":21.5,"unit":"C"}`, `[1,2]`, `"hello"`, `"\"quoted\""`, `"42"`, `"` + b64(string(binary)) + `" base64`}},
		{"text", []string{`"{\"t\":21.5,\"unit\":\"C\"}"`, `"[1, 2]"`, `"hello"`, `"\"quoted\""`, `"42"`, `"` + b64(string(binary)) + `" base64`}},
		{"base64", []string{`"` + b64(`{"t":21.5,"unit":"C"}`) + `" base64`, `"` + b64("[1, 2]") + `" base64`, `"` + b64("hello") + `" base64`,
			`"` + b64(`"quoted"`) + `" base64`, `"` + b64("42") + `" base64`, `"` + b64(string(binary)) + `" base64`}},
	} {
		args := []string{"read", "--connection-string", cs, "--range", "0:0:6"}
		if c.flag != "" {
			args = append(args, "--body", c.flag)
		}
		code, out, errOut := cli(t, "", args...)
		if code != 0 {
			t.Fatalf("read --body %s: exit %d, stderr %q", c.flag, code, errOut)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			got = append(got, bodyOfLine(t, line))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("read --body %s:\n%s\nwant\n%s", c.flag, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
	code, out, errOut := cli(t, "", "read", "--connection-string", cs, "--range", "0:0:6", "--body", "json")
	if code != 1 || !strings.Contains(errOut, "event 2 of partition 0") || !strings.Contains(errOut, "--body auto") {
		t.Errorf("read --body json of text bodies: exit %d, stdout %q, stderr %q; want exit 1 naming event 2 and --body auto", code, out, errOut)
	}
	if _, out, _ := cli(t, "", "read", "--connection-string", cs, "--range", "0:0:2", "--body", "json"); !strings.Contains(out, `"body":{"t":21.5,"unit":"C"}`) {
		t.Errorf("read --body json of JSON bodies printed %q", out)
	}
	code, _, errOut = cli(t, "", "read", "--connection-string", cs, "--all", "--body", "yaml")
	if code != 2 || !strings.Contains(errOut, `--body "yaml"`) {
		t.Errorf("read --body yaml: exit %d, stderr %q; want exit 2 naming the value", code, errOut)
	}
}

// bodyOfLine is a read line's "body" as JSON text, and " base64" when its
// bodyEncoding says so.
func bodyOfLine(t *testing.T, line string) string {
	t.Helper()
	var ev struct {
		Body         json.RawMessage `json:"body"`
		BodyEncoding string          `json:"bodyEncoding"`
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if ev.BodyEncoding != "" {
		return string(ev.Body) + " " + ev.BodyEncoding
	}
	return string(ev.Body)
}

// A read kept out of a partition that another reader holds exclusively (a
// running stream) says what to do in flags, not in Go calls.
func TestReadOfAHeldPartitionNamesFlags(t *testing.T) {
	srv := startInProcess(t, emulator.HubConfig{Name: "held", PartitionCount: 1})
	cs := srv.ConnectionString("held")
	sendLines(t, cs, "0", "a\nb\n")
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(context.Background())
	earliest := true
	pc, err := cc.NewPartitionClient("0", &azeventhubs.PartitionClientOptions{OwnerLevel: new(int64), Prefetch: -1,
		StartPosition: azeventhubs.StartPosition{Earliest: &earliest}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pc.ReceiveEvents(ctx, 1, nil); err != nil { // attaches: the partition is held
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "", "read", "--connection-string", cs, "--range", "0:0:2")
	if code != 1 || !strings.Contains(errOut, "--consumer-group") || strings.Contains(errOut, "SetExclusive") {
		t.Errorf("read of a held partition: exit %d, stderr %q; want exit 1 naming --consumer-group, not SetExclusive", code, errOut)
	}
}
