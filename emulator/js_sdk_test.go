package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// TestJavaScriptSDK has the official @azure/event-hubs send a batch and read
// the partition with subscribe, including events the Go SDK sent. CI
// installs the package (EHSTREAM_TEST_JS=1 makes its absence a failure).
func TestJavaScriptSDK(t *testing.T) {
	js := needJS(t)
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("go-0")}, &azeventhubs.EventData{Body: []byte("go-1")})

	out := js.run(t, ctx, "roundtrip.js", "EH_CONNECTION_STRING="+srv.ConnectionString(""), "EH_HUB=eh1", "EH_EXPECT=7")
	var res struct {
		PartitionIDs []string `json:"partitionIds"`
		Received     []struct {
			Body  string         `json:"body"`
			Seq   int64          `json:"seq"`
			Props map[string]any `json:"props"`
		} `json:"received"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if len(res.PartitionIDs) != 2 || len(res.Received) != 7 {
		t.Fatalf("JavaScript SDK saw partitions %v and %d events, want 2 and 7", res.PartitionIDs, len(res.Received))
	}
	want := []string{"go-0", "go-1", "js-0", "js-1", "js-2", "js-3", "js-4"}
	for i, e := range res.Received {
		if e.Body != want[i] || e.Seq != int64(i) {
			t.Fatalf("event %d: %q at %d, want %q at %d", i, e.Body, e.Seq, want[i], i)
		}
	}
	if res.Received[4].Props["i"] != float64(2) {
		t.Fatalf("application properties of js-2: %v", res.Received[4].Props)
	}
}

// jsSDK is node with the packages `npm ci` installs in testdata/js.
type jsSDK struct{ node, dir string }

// needJS finds node and, in testdata/js, @azure/event-hubs and the other
// packages named; it skips the test without them, unless EHSTREAM_TEST_JS
// is set (CI), which fails it.
func needJS(t *testing.T, packages ...string) jsSDK {
	t.Helper()
	dir, _ := filepath.Abs("testdata/js")
	node, err := exec.LookPath("node")
	var missing []string
	if err != nil {
		missing = append(missing, fmt.Sprintf("node (%v)", err))
	}
	for _, pkg := range append([]string{"@azure/event-hubs"}, packages...) {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg))); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", pkg, err))
		}
	}
	if len(missing) > 0 {
		if os.Getenv("EHSTREAM_TEST_JS") != "" {
			t.Fatalf("EHSTREAM_TEST_JS is set but %s is missing", strings.Join(missing, " and "))
		}
		t.Skip("needs node and `npm ci` in emulator/testdata/js")
	}
	return jsSDK{node: node, dir: dir}
}

// command is node running args in testdata/js, with env added to the
// environment.
func (js jsSDK) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, js.node, args...)
	cmd.Dir = js.dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// run runs a script of testdata/js and returns what it printed; the test
// fails, with what the script printed on stderr, when the script fails.
func (js jsSDK) run(t *testing.T, ctx context.Context, script string, env ...string) []byte {
	t.Helper()
	out, err := js.command(ctx, env, script).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node %s: %v\n%s", script, err, stderr)
	}
	return out
}
