package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/internal/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// The hub of kubernetes/emulator.yaml and what the test sends to it.
const (
	kubePartitions = 4
	kubeEvents     = 20_000
)

// TestKubePlay runs the manifests under deploy/kubernetes with podman kube
// play on the host's network: the emulator's pod, then the stream's
// Deployment of two replicas sharing the consumer group through ownership
// records in the host's PostgreSQL. The 20,000 events `ehstream send`
// sends must each land once in the table, both replicas must own
// partitions, and both must answer /readyz on their own port.
//
// What the test changes in the manifests, for podman 4.3 on one host (see
// forPodman): the image, names made unique, the container ports (podman
// publishes each on the host, which its host network refuses), the
// addresses (the emulator on free loopback ports; the Secret's values
// point at them and at the test's database), and the Secret, which podman
// 4.3 stores in a form its own secretKeyRef cannot read, so the test
// creates it. With a host network the two stream replicas share the
// host's ports: the first takes 4040 and the second the next free one,
// as --http does when its port is taken; in a cluster each pod has its
// own 4040, which the manifest's probes and scrape annotation name.
func TestKubePlay(t *testing.T) {
	requirePodman(t)
	dbURL := pgtest.Fresh(t)
	img := image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	started := time.Now()
	k := &kubeRun{t: t, image: img, suffix: unique(""), dir: t.TempDir()}
	k.cleanUpAfter(ctx)
	amqpPort, httpPort := freePort(t), freePort(t)
	connStr := fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;EntityPath=orders", amqpPort)

	k.play(ctx, "emulator.yaml", "ehstream-emulator",
		`":5672"`, strconv.Quote(fmt.Sprintf("127.0.0.1:%d", amqpPort)),
		`":5300"`, strconv.Quote(fmt.Sprintf("127.0.0.1:%d", httpPort)))
	waitHTTP(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/health", httpPort))
	t.Logf("emulator ready after %v", time.Since(started).Round(time.Millisecond))
	sendStarted := time.Now()
	for p := range kubePartitions {
		var lines strings.Builder
		for i := range kubeEvents / kubePartitions {
			fmt.Fprintf(&lines, "order %d of partition %d\n", i, p)
		}
		out := podman(t, ctx, lines.String(), "run", "--rm", "-i", "--network", "host", img,
			"send", "--connection-string", connStr, "--partition", strconv.Itoa(p))
		if !strings.Contains(out, fmt.Sprintf("sent %d events", kubeEvents/kubePartitions)) {
			t.Fatalf("ehstream send to partition %d: %q", p, out)
		}
	}
	t.Logf("sent %d events in %v", kubeEvents, time.Since(sendStarted).Round(time.Millisecond))

	k.secret(ctx, "ehstream-archive", map[string]string{"database-url": dbURL, "connection-string": connStr})
	streamStarted := time.Now()
	k.play(ctx, "stream.yaml", "orders-archive")
	db := openDB(t, dbURL)
	waitRows(t, ctx, db)
	t.Logf("the two replicas wrote %d events in %v", kubeEvents, time.Since(streamStarted).Round(time.Millisecond))
	checkOwners(t, ctx, db)
	k.checkReplicasReady(ctx)
	t.Logf("TestKubePlay took %v", time.Since(started).Round(time.Millisecond))
}
