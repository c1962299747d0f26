package deploy

import (
	"context"
	"database/sql"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What forPodman takes out of a manifest: a Secret's document, and the
// line of a container's ports (the manifests write each on one line).
var (
	secretDoc      = regexp.MustCompile(`(?m)^kind: Secret$`)
	containerPorts = regexp.MustCompile(`(?m)^ *ports: \[\{name: .*containerPort: .*\]\n`)
)

// statusPort is the port a stream replica says it serves on.
var statusPort = regexp.MustCompile(`status: http://[^\s"/]+:(\d+)/`)

// checkReplicasReady checks that both stream pods answer /readyz with
// 200, each on the port it took, and that their /metrics show them
// sharing the hub's partitions.
func (k *kubeRun) checkReplicasReady(ctx context.Context) {
	t := k.t
	t.Helper()
	pods := strings.Fields(podman(t, ctx, "", "pod", "ps", "--filter", "name=orders-archive"+k.suffix, "--format", "{{.Name}}"))
	if len(pods) != 2 {
		t.Fatalf("podman kube play made the pods %v of the stream's Deployment; want 2 (replicas: 2)", pods)
	}
	owned := 0
	ports := map[string]bool{}
	for _, pod := range pods {
		// The JSON logs are on the container's stderr.
		logs, err := exec.CommandContext(ctx, "bash", "podman.sh", "logs", pod+"-stream").CombinedOutput()
		if err != nil {
			t.Fatalf("podman logs %s-stream: %v\n%s", pod, err, logs)
		}
		m := statusPort.FindSubmatch(logs)
		if m == nil {
			t.Fatalf("%s printed no status line:\n%s", pod, logs)
		}
		port := string(m[1])
		ports[port] = true
		base := "http://127.0.0.1:" + port
		waitHTTP(t, ctx, base+"/readyz")
		metrics := get(t, base+"/metrics")
		n := regexp.MustCompile(`(?m)^ehstream_owned_partitions (\d+)$`).FindStringSubmatch(metrics)
		if n == nil || !strings.Contains(metrics, "ehstream_build_info{") {
			t.Fatalf("%s's /metrics lacks ehstream_owned_partitions or ehstream_build_info", pod)
		}
		c, _ := strconv.Atoi(n[1])
		owned += c
		t.Logf("%s: /readyz 200 on port %s, owns %d partitions", pod, port, c)
	}
	if len(ports) != 2 || owned != kubePartitions {
		t.Errorf("the replicas serve on ports %v and own %d partitions together; want two ports and %d", ports, owned, kubePartitions)
	}
}

// waitRows waits until the table holds every event, then checks it holds
// each once.
func waitRows(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	var rows, distinct, partitions int
	for {
		err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT (partition_id, sequence_number)), count(DISTINCT partition_id) FROM orders`).
			Scan(&rows, &distinct, &partitions)
		if err == nil && rows >= kubeEvents {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the table holds %d of %d events at the deadline (last error: %v)", rows, kubeEvents, err)
		}
		time.Sleep(250 * time.Millisecond) // polling the table
	}
	if rows != kubeEvents || distinct != kubeEvents || partitions != kubePartitions {
		t.Errorf("the table holds %d rows, %d distinct (partition, sequence number), from %d partitions; want %d, %d, %d",
			rows, distinct, partitions, kubeEvents, kubeEvents, kubePartitions)
	}
}

// checkOwners checks that both replicas hold claims in the ownership
// records, each partition's by one of them.
func checkOwners(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	for {
		claims, total := map[string]int{}, 0
		rs, err := db.QueryContext(ctx, `SELECT owner_id, count(*) FROM ehstream_ownership WHERE owner_id <> '' GROUP BY owner_id`)
		if err == nil {
			for rs.Next() {
				var owner string
				var n int
				if err := rs.Scan(&owner, &n); err != nil {
					t.Fatal(err)
				}
				claims[owner], total = n, total+n
			}
			err = rs.Close()
		}
		if err == nil && len(claims) == 2 && total == kubePartitions {
			t.Logf("ownership records: %v", claims)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("ownership records at the deadline: %v (%v); want two owners of %d partitions", claims, err, kubePartitions)
		}
		time.Sleep(250 * time.Millisecond) // polling the records
	}
}

func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
