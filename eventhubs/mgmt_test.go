package eventhubs_test

import (
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// After the connection drops, the hub's properties are asked again on a
// working connection, at once. (The SDK can leave its management link on
// the dropped connection when receivers recovered it first, which this
// test alone does not provoke: TestDirectStreamRecoversFromADropQuickly
// stopped at about one run in 30 with every properties call failing,
// connection lost, until OperationTimeout.)
func TestDescribeHubAfterADroppedConnection(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "mgmt", PartitionCount: 2})
	ctx := testCtx(t, 60*time.Second)
	conf := testConf(srv, "mgmt").SetOperationTimeout(10 * time.Second)
	for round := range 3 {
		if _, err := eventhubs.DescribeHub(ctx, conf); err != nil {
			t.Fatalf("round %d: DescribeHub: %v", round, err)
		}
		if _, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultDropConnections}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := eventhubs.DescribeHub(ctx, conf); err != nil {
		t.Fatalf("DescribeHub after the drops: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("DescribeHub after the drops took %s, want within 5s", took.Round(time.Millisecond))
	}
}
