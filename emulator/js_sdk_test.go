package emulator_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// TestJavaScriptSDK has the official @azure/event-hubs send a batch and read
// the partition with subscribe, including events the Go SDK sent. CI
// installs the package (EHSTREAM_TEST_JS=1 makes its absence a failure).
func TestJavaScriptSDK(t *testing.T) {
	dir, _ := filepath.Abs("testdata/js")
	node, err := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "@azure", "event-hubs"))
	if err != nil || modErr != nil {
		if os.Getenv("EHSTREAM_TEST_JS") != "" {
			t.Fatalf("EHSTREAM_TEST_JS is set but node (%v) or @azure/event-hubs (%v) is missing", err, modErr)
		}
		t.Skip("needs node and `npm ci` in emulator/testdata/js")
	}
	srv := start(t, nil)
	ctx := testCtx(t, 60*time.Second)
	sendBatch(t, ctx, producer(t, srv, "eh1"), &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")},
		&azeventhubs.EventData{Body: []byte("go-0")}, &azeventhubs.EventData{Body: []byte("go-1")})

	cmd := exec.CommandContext(ctx, node, "roundtrip.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "EH_CONNECTION_STRING="+srv.ConnectionString(""), "EH_HUB=eh1", "EH_EXPECT=7")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node roundtrip.js: %v\n%s", err, stderr)
	}
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
