package eventhubs_test

import (
	"log/slog"
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

// The probing connection, which resolves positions and reads lag, asks
// properties on a connection it makes anew after a drop, too: a drop that
// catches its call in the middle never leaves later calls failing until
// OperationTimeout. (Before, a probe asked on its own pooled connection,
// whose management link such a drop broke for good: a round in about 30
// of this test, and the replica tests now and then, failed every call for
// the whole OperationTimeout.)
func TestProbeAfterDroppedConnections(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "probe", PartitionCount: 2})
	ctx := testCtx(t, 2*time.Minute)
	conf := testConf(srv, "probe").SetOperationTimeout(10 * time.Second).SetLogger(slog.New(slog.DiscardHandler))
	latest := map[string]eventhubs.EventPosition{"0": eventhubs.EndOfStream(), "1": eventhubs.EndOfStream()}
	for round := range 40 {
		dropped := make(chan error, 1)
		go func() { // while the calls below run
			_, err := srv.InjectFault(emulator.Fault{Kind: emulator.FaultDropConnections})
			dropped <- err
		}()
		start := time.Now()
		for range 3 {
			if _, err := eventhubs.ResolvePositions(ctx, conf, latest); err != nil {
				t.Fatalf("round %d: ResolvePositions around a drop: %v (after %s)", round, err, time.Since(start).Round(time.Millisecond))
			}
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("round %d: ResolvePositions around a drop took %s, want within 5s", round, took.Round(time.Millisecond))
		}
		if err := <-dropped; err != nil {
			t.Fatal(err)
		}
	}
}
