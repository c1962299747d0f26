package emulator_test

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
)

// regexpUntrusted matches Node's refusal of a certificate from an unknown
// CA.
var regexpUntrusted = regexp.MustCompile(`UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate`)

// TestJavaScriptSDKOverTLS has the official @azure/event-hubs send and
// receive over TLS (amqps) and over WebSockets with TLS (wss, the only
// WebSockets the SDK speaks, with the ws package), verifying the
// certificate with the emulator's CA from NODE_EXTRA_CA_CERTS.
func TestJavaScriptSDKOverTLS(t *testing.T) {
	js := needJS(t, "ws")
	srv, ss := startTLS(t, &emulator.Config{WebSocketListen: "127.0.0.1:0"})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ss.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	_, wsPort, _ := net.SplitHostPort(srv.WebSocketAddr())
	for _, tc := range []struct {
		name, partition, wsEndpoint string
	}{
		{"amqps", "0", ""},
		{"wss", "1", "sb://localhost:" + wsPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			out := js.run(t, ctx, "roundtrip.js", "NODE_EXTRA_CA_CERTS="+caFile, "EH_CONNECTION_STRING="+srv.TLSConnectionString(""),
				"EH_HUB=eh1", "EH_PARTITION="+tc.partition, "EH_SEND=3", "EH_EXPECT=3", "EH_WEBSOCKET_ENDPOINT="+tc.wsEndpoint)
			var res struct {
				LastSequenceNumber int64 `json:"lastSequenceNumber"`
				Received           []struct {
					Body string `json:"body"`
					Seq  int64  `json:"seq"`
				} `json:"received"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if res.LastSequenceNumber != 2 || len(res.Received) != 3 {
				t.Fatalf("JavaScript SDK over %s: last sequence number %d and %d events, want 2 and 3", tc.name, res.LastSequenceNumber, len(res.Received))
			}
			for i, e := range res.Received {
				if want := fmt.Sprintf("js-%d", i); e.Body != want || e.Seq != int64(i) {
					t.Fatalf("event %d: %q at %d, want %q", i, e.Body, e.Seq, want)
				}
			}
		})
	}
	// Without the CA the SDK refuses the certificate.
	ctx := testCtx(t, 60*time.Second)
	out, err := js.command(ctx, []string{"EH_CONNECTION_STRING=" + srv.TLSConnectionString("")}, "-e", `
const { EventHubProducerClient } = require("@azure/event-hubs");
const p = new EventHubProducerClient(process.env.EH_CONNECTION_STRING, "eh1", { retryOptions: { maxRetries: 0 } });
p.getEventHubProperties().then(() => { console.log("connected"); process.exit(0); }, (e) => { console.log(String(e.code || ""), String(e.message)); process.exit(0); });`).CombinedOutput()
	if err != nil || !regexpUntrusted.Match(out) {
		t.Fatalf("the SDK without the CA: %v\n%s\nwant a certificate error", err, out)
	}
	t.Logf("the SDK without the CA: %s", out)
}
