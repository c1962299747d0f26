package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// `ehstream stream` into SQLite while the emulator misbehaves every second
// for 20 s (sends refused as busy, receivers detached, frames delayed,
// partitions paused, all connections dropped twice) and a producer keeps
// sending: at the end the table holds every event of the hub exactly once
// (compared event by event with the hub, read back), every acknowledged
// send among them, and the stored positions at the partitions' ends.
func TestStreamSurvivesFaults(t *testing.T) {
	const partitions = 4
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := startInProcess(t, emulator.HubConfig{Name: "faulty", PartitionCount: partitions})
	connStr := srv.ConnectionString("faulty")
	spec := "sqlite:" + filepath.Join(t.TempDir(), "faults.db")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	stream := startStreamProcess(t, bin, "--connection-string", connStr, "--sink", spec, "--table", "events", "--job", "faults",
		"--batch-interval", "200ms", "--max-rate-per-partition", "2000", "--operation-timeout", "30s", "--receiver-timeout", "3s")
	defer func() {
		if t.Failed() || os.Getenv("EH_DEBUG_STREAM") != "" {
			t.Logf("ehstream stream printed:\n%s", stream.output())
		}
	}()
	stream.waitFor(t, "streaming faulty")

	// The producer: batches of 20 to each partition in turn, retried by
	// the SDK; only what it acknowledged counts.
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		failures int
	)
	stopProducing := make(chan struct{})
	produced := make(chan error, 1)
	go func() {
		p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", &azeventhubs.ProducerClientOptions{
			RetryOptions: azeventhubs.RetryOptions{MaxRetries: 5, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}})
		if err != nil {
			produced <- err
			return
		}
		defer p.Close(context.Background())
		pace := time.NewTicker(10 * time.Millisecond) // at most 2,000 events a second
		defer pace.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				produced <- nil
				return
			case <-pace.C:
			}
			bodies := make([]string, 20)
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			err := func() error {
				batch, err := p.NewEventDataBatch(sctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr(fmt.Sprint(i % partitions))})
				if err != nil {
					return err
				}
				for j := range bodies {
					bodies[j] = fmt.Sprintf("ev-%d-%d", i, j)
					if err := batch.AddEventData(&azeventhubs.EventData{Body: []byte(bodies[j])}, nil); err != nil {
						return err
					}
				}
				return p.SendEventDataBatch(sctx, batch, nil)
			}()
			scancel()
			mu.Lock()
			if err == nil {
				for _, b := range bodies {
					acked[b] = true
				}
			} else {
				failures++
			}
			mu.Unlock()
			if ctx.Err() != nil {
				produced <- ctx.Err()
				return
			}
		}
	}()

	// A fault every second for 20 s; all connections drop at 5 s and 13 s.
	schedule := []emulator.Fault{
		{Kind: emulator.FaultServerBusy, Duration: 500 * time.Millisecond},
		{Kind: emulator.FaultDetachReceivers, Hub: "faulty"},
		{Kind: emulator.FaultDelayFrames, Delay: 100 * time.Millisecond, Duration: 700 * time.Millisecond},
		{Kind: emulator.FaultPausePartition, Hub: "faulty", Partition: "3", Duration: 800 * time.Millisecond},
		{Kind: emulator.FaultDetachReceivers, Hub: "faulty", Partition: "1"},
		{Kind: emulator.FaultDropConnections},
		{Kind: emulator.FaultServerBusy, Hub: "faulty", Partition: "2", Duration: 800 * time.Millisecond},
		{Kind: emulator.FaultPausePartition, Hub: "faulty", Duration: 600 * time.Millisecond},
		{Kind: emulator.FaultDelayFrames, Delay: 30 * time.Millisecond, Duration: 900 * time.Millisecond},
		{Kind: emulator.FaultDetachReceivers},
		{Kind: emulator.FaultServerBusy, Duration: 300 * time.Millisecond},
		{Kind: emulator.FaultPausePartition, Hub: "faulty", Partition: "0", Duration: 900 * time.Millisecond},
		{Kind: emulator.FaultDetachReceivers, Hub: "faulty", Partition: "0"},
		{Kind: emulator.FaultDropConnections},
		{Kind: emulator.FaultDelayFrames, Delay: 200 * time.Millisecond, Duration: 500 * time.Millisecond},
		{Kind: emulator.FaultDetachReceivers, Hub: "faulty"},
		{Kind: emulator.FaultServerBusy, Hub: "faulty", Partition: "0", Duration: 700 * time.Millisecond},
		{Kind: emulator.FaultPausePartition, Hub: "faulty", Partition: "1", Duration: 500 * time.Millisecond},
		{Kind: emulator.FaultDetachReceivers, Hub: "faulty", Partition: "2", Condition: emulator.DefaultDetachCondition},
		{Kind: emulator.FaultDelayFrames, Delay: 50 * time.Millisecond, Duration: 800 * time.Millisecond},
	}
	began := time.Now()
	tick := time.NewTicker(time.Second)
	for i, f := range schedule {
		select {
		case <-tick.C:
		case err := <-stream.exited:
			t.Fatalf("ehstream stream exited under faults, %d s in (%v)", i, err)
		}
		af, err := srv.InjectFault(f)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Kind.Timed() {
			t.Logf("%2ds: %s hit %d", i+1, f, af.Hits)
		}
	}
	tick.Stop()
	close(stopProducing)
	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	srv.ClearFaults()
	mu.Lock()
	t.Logf("faults for %s; the producer had %d events acknowledged and %d sends fail", time.Since(began).Round(time.Millisecond), len(acked), failures)
	mu.Unlock()

	// The hub's contents, and the stream catching up with them.
	ends := hubEnds(t, ctx, connStr, partitions)
	var total int64
	for _, e := range ends {
		total += e
	}
	sk := sinkDB(t, spec, "events")
	caughtUp := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rows int64
		if err := sk.DB.QueryRow(`SELECT count(*) FROM events`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == total {
			break
		}
		select {
		case err := <-stream.exited:
			t.Fatalf("ehstream stream exited (%v) with %d of the hub's %d events in the table", err, rows, total)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the table has %d of the hub's %d events 60s after the faults stopped", rows, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the stream caught up with the hub's %d events %s after the faults stopped", total, time.Since(caughtUp).Round(time.Millisecond))
	if err := stream.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stream.exited:
		if err != nil {
			t.Fatalf("ehstream stream after SIGINT: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ehstream stream still running 30s after SIGINT")
	}

	// Every event of the hub exactly once, and nothing else.
	hub := readHub(t, ctx, connStr, ends)
	inTable := map[string]bool{}
	for p := range partitions {
		id := fmt.Sprint(p)
		rows, err := sk.DB.Query(`SELECT sequence_number, body FROM events WHERE eventhub = 'faulty' AND partition_id = ? ORDER BY sequence_number`, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var seq int64
			var body []byte
			if err := rows.Scan(&seq, &body); err != nil {
				t.Fatal(err)
			}
			if seq != int64(len(got)) {
				t.Fatalf("partition %s: row %d has sequence number %d: events lost or repeated", id, len(got), seq)
			}
			got = append(got, string(body))
			inTable[string(body)] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(got) != len(hub[p]) {
			t.Fatalf("partition %s: %d rows, the hub holds %d events", id, len(got), len(hub[p]))
		}
		for i := range got {
			if got[i] != hub[p][i] {
				t.Fatalf("partition %s, sequence number %d: the table has %q, the hub %q", id, i, got[i], hub[p][i])
			}
		}
	}
	var rows, distinct int64
	if err := sk.DB.QueryRow(`SELECT count(*), count(DISTINCT partition_id || '/' || sequence_number) FROM events`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != total || distinct != total {
		t.Fatalf("%d rows, %d distinct events; the hub holds %d", rows, distinct, total)
	}
	missing := 0
	for b := range acked {
		if !inTable[b] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events are not in the table", missing, len(acked))
	}
	job, err := offsets.JobFor("faults", eventhubs.NewConf(connStr))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := sk.Store.Positions(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != partitions {
		t.Fatalf("%d stored positions, want %d", len(ps), partitions)
	}
	for _, p := range ps {
		var i int
		fmt.Sscan(p.Partition, &i)
		if p.Next != ends[i] {
			t.Errorf("partition %s: stored position %d, the hub ends at %d", p.Partition, p.Next, ends[i])
		}
	}
	st := srv.Stats().Faults
	t.Logf("%d events in the hub (%d acknowledged, %d stored but not acknowledged), all once in the table; %d sends refused as busy, %d receivers detached, %d connections dropped",
		total, len(acked), total-int64(len(acked)), st.SendsRejected, st.ReceiversDetached, st.ConnectionsDropped)
	if st.ConnectionsDropped < 2 || st.ReceiversDetached == 0 || st.SendsRejected == 0 {
		t.Errorf("the faults did little: %+v", st)
	}
}

// hubEnds is each partition's last sequence number + 1.
func hubEnds(t *testing.T, ctx context.Context, connStr string, partitions int) []int64 {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ends := make([]int64, partitions)
	for i := range ends {
		pp, err := p.GetPartitionProperties(ctx, fmt.Sprint(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		ends[i] = pp.LastEnqueuedSequenceNumber + 1
	}
	return ends
}

// readHub reads each partition's [0, end) with the SDK: the bodies, by
// sequence number.
func readHub(t *testing.T, ctx context.Context, connStr string, ends []int64) [][]string {
	t.Helper()
	c, err := azeventhubs.NewConsumerClientFromConnectionString(connStr, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	out := make([][]string, len(ends))
	for i, end := range ends {
		pc, err := c.NewPartitionClient(fmt.Sprint(i), &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		for int64(len(out[i])) < end {
			evs, err := pc.ReceiveEvents(ctx, int(min(end-int64(len(out[i])), 1000)), nil)
			if err != nil {
				t.Fatalf("reading partition %d back: %v", i, err)
			}
			for _, e := range evs {
				if e.SequenceNumber != int64(len(out[i])) {
					t.Fatalf("reading partition %d back: sequence number %d, want %d", i, e.SequenceNumber, len(out[i]))
				}
				out[i] = append(out[i], string(e.Body))
			}
		}
		pc.Close(ctx)
	}
	return out
}

// --faults FILE injects at start what POST /faults takes; the admin API is
// on the --http address when it is loopback (here given by its old name,
// --health, which keeps working).
func TestEmulatorFaultsFlagAndAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a child process")
	}
	file := filepath.Join(t.TempDir(), "faults.json")
	os.WriteFile(file, []byte(`[{"kind":"server-busy","hub":"eh1","partition":"1"},
		{"kind":"pause-partition","hub":"eh1","duration":"1h"}]`), 0o644)
	p := startEmulatorProcess(t, "--in-memory", "--faults", file, "--health", "127.0.0.1:0")
	url := strings.TrimSuffix(p.health, "/health") + "/faults"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The file's server-busy fault refuses sends to partition 1.
	prod, err := azeventhubs.NewProducerClientFromConnectionString(p.connStr, "eh1", &azeventhubs.ProducerClientOptions{
		RetryOptions: azeventhubs.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	send := func(partition string) error {
		batch, err := prod.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			return err
		}
		batch.AddEventData(&azeventhubs.EventData{Body: []byte("x")}, nil)
		return prod.SendEventDataBatch(ctx, batch, nil)
	}
	if err := send("1"); err == nil || !strings.Contains(err.Error(), "com.microsoft:server-busy") {
		t.Fatalf("send to partition 1 under the file's server-busy fault: %v", err)
	}
	if err := send("0"); err != nil {
		t.Fatalf("send to partition 0: %v", err)
	}

	get := func() (active []map[string]any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct{ Active []map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /faults: %s %v", resp.Status, err)
		}
		return a.Active
	}
	if active := get(); len(active) != 2 || active[0]["kind"] != "server-busy" || active[0]["hits"] != 1.0 || active[1]["kind"] != "pause-partition" {
		t.Fatalf("GET /faults: %v, want the file's two faults, the first with one hit", active)
	}
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"kind":"detach-receivers","hub":"nope"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte(`hub \"nope\" is not served`)) {
		t.Fatalf("POST a fault for an unknown hub: %s %s", resp.Status, body)
	}
	req, _ := http.NewRequest("DELETE", url, nil)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE /faults: %v %v", resp, err)
	}
	resp.Body.Close()
	if active := get(); len(active) != 0 {
		t.Fatalf("GET /faults after DELETE: %v", active)
	}
	if err := send("1"); err != nil {
		t.Fatalf("send to partition 1 after DELETE /faults: %v", err)
	}
}

// A --faults file that is not right stops the start with an error naming
// the file and the bad value.
func TestEmulatorBadFaultsFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ content, says string }{
		{`{"kind":"server-busy",`, "not valid JSON"},
		{`{"kind":"tornado"}`, `kind "tornado" is unknown`},
		{`{"kind":"pause-partition","duration":"-1s"}`, "duration -1s is negative"},
		{`{"kind":"pause-partition","hub":"eh1","duration":"forever"}`, `"forever" is not a Go duration`},
		{`[{"kind":"drop-connections"},{"kind":"detach-receivers","hub":"eh7"}]`, `hub "eh7" is not served`},
		{`{"kind":"server-busy","hub":"eh1","partition":"2"}`, `no partition "2"`},
	}
	for i, c := range cases {
		file := filepath.Join(dir, fmt.Sprintf("f%d.json", i))
		os.WriteFile(file, []byte(c.content), 0o644)
		code, _, errOut := cli(t, "", "emulator", "--in-memory", "--listen", "127.0.0.1:0", "--faults", file)
		if code != 1 || !strings.Contains(errOut, c.says) || !strings.Contains(errOut, file) {
			t.Errorf("--faults with %s: exit %d, stderr %q; want exit 1 naming the file and saying %q", c.content, code, errOut, c.says)
		}
	}
	code, _, errOut := cli(t, "", "emulator", "--in-memory", "--listen", "127.0.0.1:0", "--faults", filepath.Join(dir, "missing.json"))
	if code != 1 || !strings.Contains(errOut, "missing.json") {
		t.Errorf("--faults with a missing file: exit %d, stderr %q", code, errOut)
	}
}

// The README's faults example is a valid --faults file with every kind.
func TestReadmeFaultsExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Faults on demand\n")
	if !ok {
		t.Fatal("the README has no section ## Faults on demand")
	}
	_, block, ok := strings.Cut(section, "```json\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the README's faults section has no ```json block")
	}
	faults, err := emulator.ParseFaults([]byte(block))
	if err != nil {
		t.Fatalf("the README's faults example: %v", err)
	}
	kinds := map[emulator.FaultKind]bool{}
	for _, f := range faults {
		kinds[f.Kind] = true
	}
	for _, k := range emulator.FaultKinds {
		if !kinds[k] {
			t.Errorf("the README's faults example has no %s", k)
		}
	}
}
