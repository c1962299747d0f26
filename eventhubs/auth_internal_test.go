package eventhubs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/go-amqp"
	"github.com/ehstream/ehstream/emulator"
)

// TestSendRefusalIsPermanent: a listen-only policy's send, refused by the
// emulator at put-token (a partition) or at attach (the hub), fails at once
// in the SDK, and permanent() makes it CodeUnauthorized, so nothing here
// retries it.
func TestSendRefusalIsPermanent(t *testing.T) {
	const key = "bGlzdGVuLWtleS1mb3ItcGVybWFuZW50LXRlc3QtMDEy"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{SASPolicies: []emulator.SASPolicy{{Name: "reader", Key: key, Rights: emulator.RightListen}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(""), "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for _, partition := range []*string{nil, to.Ptr("1")} {
		began := time.Now()
		_, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: partition})
		took := time.Since(began)
		e := permanent(err, "eh1", "")
		if e == nil || e.Code != CodeUnauthorized {
			t.Fatalf("partition %v: %v mapped to %v, want CodeUnauthorized", partition, err, e)
		}
		if took > 2*time.Second || strings.Contains(e.Error(), key) {
			t.Errorf("partition %v: after %s: %v", partition, took, e)
		}
	}
}

// TestQuotaIsPermanent: the service's quota refusal (such as a sixth
// reader without an owner level) is not retried and says so.
func TestQuotaIsPermanent(t *testing.T) {
	err := &amqp.Error{Condition: amqp.ErrCondResourceLimitExceeded, Description: "Exceeded the maximum number of allowed receivers per partition in a consumer group which is 5."}
	e := permanent(err, "eh1", "0")
	if e == nil || e.Code != CodeQuotaExceeded || !strings.Contains(e.Error(), "which is 5") {
		t.Fatalf("permanent(%v) = %v, want CodeQuotaExceeded with the service's text", err, e)
	}
}
