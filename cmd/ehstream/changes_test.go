package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/sqlsink"
)

// What users change between runs of `ehstream stream`: however they do it,
// the table holds every event once, or the run refuses and says why.

// sendTo writes n events of 10 bytes to one partition of hub.
func sendTo(t *testing.T, ctx context.Context, namespaceConnStr, hub, partition string, n int) {
	t.Helper()
	p, err := azeventhubs.NewProducerClientFromConnectionString(namespaceConnStr, hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := batch.AddEventData(&azeventhubs.EventData{Body: fmt.Appendf(nil, "event-%06d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
}

// tableCounts is the table's rows and distinct (partition, sequence
// number, enqueued time) per partition: equal when no event is there twice.
func tableCounts(t *testing.T, sk *sqlsink.Sink, table string) (rows, distinct map[string]int) {
	t.Helper()
	rows, distinct = map[string]int{}, map[string]int{}
	r, err := sk.DB.Query(`SELECT partition_id, count(*), count(DISTINCT CAST(sequence_number AS TEXT) || '@' || CAST(enqueued_time AS TEXT)) FROM ` + table + ` GROUP BY partition_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var p string
		var n, d int
		if err := r.Scan(&p, &n, &d); err != nil {
			t.Fatal(err)
		}
		rows[p], distinct[p] = n, d
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

func streamArgs(cs, spec, table, job string, extra ...string) []string {
	return append([]string{"stream", "--connection-string", cs, "--sink", spec, "--table", table, "--job", job,
		"--until-idle", "--batch-interval", "10ms", "--receiver-timeout", "5s", "--operation-timeout", "10s"}, extra...)
}

// withEndpoint spells the emulator's connection string with another host
// name (a spelling of localhost) and hub name.
func withEndpoint(srv *emulator.Server, host, hub string) string {
	_, port, _ := strings.Cut(srv.Addr(), ":")
	return strings.Replace(srv.ConnectionString(hub), "sb://"+srv.Addr(), "sb://"+host+":"+port, 1)
}

// Finding 1: Event Hubs names are not case-sensitive. Runs that spell the
// namespace host, the hub and the consumer group otherwise are one job.
func TestStreamNamesInAnyCase(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			srv := startInProcess(t, emulator.HubConfig{Name: "Orders", PartitionCount: 2, ConsumerGroups: []string{"audit"}})
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			table, job := uniqueName("events"), uniqueName("job")
			sk := sinkDB(t, spec, table)
			runs := []struct{ host, hub, group string }{
				{"localhost", "orders", "audit"},
				{"LOCALHOST", "ORDERS", "AUDIT"},
				{"LocalHost", "Orders", "Audit"},
			}
			total := 0
			for i, r := range runs {
				sendTo(t, ctx, srv.ConnectionString(""), "orders", "0", 40+i)
				sendTo(t, ctx, srv.ConnectionString(""), "orders", "1", 10+i)
				total += 50 + 2*i
				cs := withEndpoint(srv, r.host, r.hub)
				code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job, "--consumer-group", r.group)...)
				if code != 0 || !strings.Contains(out, fmt.Sprintf("wrote %d events", 50+2*i)) {
					t.Fatalf("run %d (%s, %s, %s): exit %d, want %d new events\n%s%s", i+1, r.host, r.hub, r.group, code, 50+2*i, out, errOut)
				}
			}
			rows, distinct := tableCounts(t, sk, table)
			if rows["0"]+rows["1"] != total || fmt.Sprint(rows) != fmt.Sprint(distinct) {
				t.Errorf("the table holds %v rows (%v distinct events) per partition, want %d events once each", rows, distinct, total)
			}
			ps, err := sk.Store.Positions(ctx, offsets.Job{Name: job, Namespace: "LocalHost", EventHub: "Orders", ConsumerGroup: "AUDIT"})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 2 || ps[0].Next != 123 || ps[1].Next != 33 {
				t.Errorf("stored positions: %+v, want one per partition, whatever the spelling", ps)
			}
		})
	}
}

// Findings 4 and 5: positions belong to one table and one consumer group.
// A run that would fill another table from them, or read the hub again
// through another group into the same table, is refused with what to do,
// and the way it names works.
func TestStreamRefusesPositionsOfAnotherTableOrGroup(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			srv := startInProcess(t, emulator.HubConfig{Name: "h", PartitionCount: 2, ConsumerGroups: []string{"cg1"}})
			cs := srv.ConnectionString("h")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			sendTo(t, ctx, srv.ConnectionString(""), "h", "0", 100)
			table, other, job := uniqueName("events"), uniqueName("other"), uniqueName("job")
			sk := sinkDB(t, spec, table)
			skOther := sinkDB(t, spec, other)
			if code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job)...); code != 0 {
				t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
			}
			sendTo(t, ctx, srv.ConnectionString(""), "h", "1", 10)

			code, out, errOut := cli(t, "", streamArgs(cs, spec, other, job)...)
			if code == 0 || !strings.Contains(errOut, "belong to output") || !strings.Contains(errOut, "--job") {
				t.Errorf("another --table: exit %d, want a refusal saying whose positions they are and how to start over\n%s%s", code, out, errOut)
			}
			t.Logf("another table: %s", errOut)
			for _, group := range []string{"cg1", "CG1"} {
				code, out, errOut = cli(t, "", streamArgs(cs, spec, table, job, "--consumer-group", group)...)
				if code == 0 || !strings.Contains(errOut, `consumer group "$default"`) || strings.Contains(errOut, "UNIQUE") || strings.Contains(errOut, "duplicate key") {
					t.Errorf("--consumer-group %s: exit %d, want a refusal naming the job's group\n%s%s", group, code, out, errOut)
				}
			}
			t.Logf("another group: %s", errOut)
			// Both refusals changed nothing; the way out they name works.
			if code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job)...); code != 0 || !strings.Contains(out, "wrote 10 events") {
				t.Errorf("the job as it was: exit %d, want the 10 new events\n%s%s", code, out, errOut)
			}
			if code, out, errOut := cli(t, "", streamArgs(cs, spec, other, uniqueName("job"))...); code != 0 || !strings.Contains(out, "wrote 110 events") {
				t.Errorf("a new --job into the other table: exit %d, want all 110 events\n%s%s", code, out, errOut)
			}
			for _, s := range []struct {
				sk    *sqlsink.Sink
				table string
			}{{sk, table}, {skOther, other}} {
				rows, distinct := tableCounts(t, s.sk, s.table)
				if rows["0"] != 100 || rows["1"] != 10 || fmt.Sprint(rows) != fmt.Sprint(distinct) {
					t.Errorf("table %s: %v rows, %v distinct; want 100 and 10, once each", s.table, rows, distinct)
				}
			}
		})
	}
}

// Finding 6: a hub deleted and created again restarts its sequence
// numbers. With --fail-on-data-loss=false the job goes on from the new
// first event, keeps what it archived, and the next runs follow on.
func TestStreamRecreatedHub(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			hub := emulator.HubConfig{Name: "re", PartitionCount: 1}
			srv := startInProcess(t, hub)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			table, job := uniqueName("events"), uniqueName("job")
			sk := sinkDB(t, spec, table)
			sendTo(t, ctx, srv.ConnectionString(""), "re", "0", 100)
			if code, out, errOut := cli(t, "", streamArgs(srv.ConnectionString("re"), spec, table, job)...); code != 0 {
				t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
			}

			srv = startInProcess(t, hub) // the hub created again: same host, another port
			cs := srv.ConnectionString("re")
			sendTo(t, ctx, srv.ConnectionString(""), "re", "0", 30)
			code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job)...)
			if code == 0 || !strings.Contains(errOut, "restarted") || !strings.Contains(errOut, "data-loss") {
				t.Errorf("with --fail-on-data-loss: exit %d, want the data-loss error\n%s%s", code, out, errOut)
			}
			code, out, errOut = cli(t, "", streamArgs(cs, spec, table, job, "--fail-on-data-loss=false")...)
			if code != 0 || !strings.Contains(out, "wrote 30 events") || !strings.Contains(errOut, "restarted") {
				t.Fatalf("with --fail-on-data-loss=false: exit %d, want the 30 new events and a warning\n%s%s", code, out, errOut)
			}
			sendTo(t, ctx, srv.ConnectionString(""), "re", "0", 10)
			if code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job)...); code != 0 || !strings.Contains(out, "wrote 10 events") {
				t.Fatalf("the next run: exit %d, want the 10 new events\n%s%s", code, out, errOut)
			}
			rows, distinct := tableCounts(t, sk, table)
			if rows["0"] != 140 || distinct["0"] != 140 {
				t.Errorf("the table holds %d rows (%d distinct), want the old hub's 100 and the new one's 40", rows["0"], distinct["0"])
			}
			ps, err := sk.Store.Positions(ctx, offsets.Job{Name: job, Namespace: "127.0.0.1", EventHub: "re", ConsumerGroup: "$Default"})
			if err != nil || len(ps) != 1 || ps[0].Next != 40 {
				t.Errorf("stored positions %+v (%v), want 40", ps, err)
			}
		})
	}
}

// Finding 2 and the test: a hub gains a partition while a stream
// that started at the end of the hub runs, and again while it is down.
// Every event of the new partitions is in the table.
func TestStreamNewPartitions(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := func(addr string, partitions int) *emulator.Server {
		return startOnDisk(t, addr, dir, emulator.HubConfig{Name: "grow", PartitionCount: partitions})
	}
	srv := start("127.0.0.1:0", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cs := srv.ConnectionString("grow")
	sendTo(t, ctx, srv.ConnectionString(""), "grow", "0", 20) // before the job: not wanted under latest
	spec := "sqlite:" + filepath.Join(t.TempDir(), "grow.db")

	// A batch every 3 s leaves time to grow the hub and fill the new
	// partition between two batches, so the stream finds it holding events.
	p := startStreamProcess(t, bin, "--connection-string", cs, "--sink", spec, "--starting-position", "latest",
		"--batch-interval", "3s", "--receiver-timeout", "5s", "--operation-timeout", "20s")
	// Its first batch stores the positions at the end of the hub (reading
	// nothing, it prints nothing).
	waitForPositions(t, p, spec, 2)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv = start(srv.Addr(), 3)
	sendTo(t, ctx, srv.ConnectionString(""), "grow", "2", 25)
	sendTo(t, ctx, srv.ConnectionString(""), "grow", "0", 5)
	// In one batch or two: partition 0's receiver may still be reconnecting
	// to the restarted hub when the next batch plans from what it received.
	p.waitUntil(t, "30 events written", func(out string) bool { return batchEvents(out) == 30 })
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exited; err != nil {
		t.Fatalf("after SIGINT: %v\n%s", err, p.output())
	}

	srv.Close()
	srv = start(srv.Addr(), 4)
	sendTo(t, ctx, srv.ConnectionString(""), "grow", "3", 15)
	sendTo(t, ctx, srv.ConnectionString(""), "grow", "2", 5)
	if code, out, errOut := cli(t, "", "stream", "--connection-string", cs, "--sink", spec, "--starting-position", "latest",
		"--until-idle", "--batch-interval", "10ms"); code != 0 || !strings.Contains(out, "wrote 20 events") {
		t.Fatalf("the run after the hub grew while it was down: exit %d, want partition 3's 15 and partition 2's 5 new events\n%s%s", code, out, errOut)
	}
	sk := sinkDB(t, spec, "events")
	rows, distinct := tableCounts(t, sk, "events")
	if want := map[string]int{"0": 5, "2": 30, "3": 15}; fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(distinct) != fmt.Sprint(want) {
		t.Errorf("rows per partition %v (distinct %v), want %v:\n%s", rows, distinct, want, p.output())
	}
}

// Finding 5: two instances of one job at once. The one that loses the
// partitions stops with an error naming the job; neither ever shows the
// database's constraint error; a later run finishes with every event once.
func TestStreamTwoInstancesOfAJob(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			bin, err := buildBinary()
			if err != nil {
				t.Fatal(err)
			}
			srv := startInProcess(t, emulator.HubConfig{Name: "twice", PartitionCount: 2})
			cs := srv.ConnectionString("twice")
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			table, job := uniqueName("events"), uniqueName("job")
			produced := sendRounds(ctx, cs, 2, 6000, 50)
			args := []string{"--connection-string", cs, "--sink", spec, "--table", table, "--job", job,
				"--batch-interval", "50ms", "--max-rate-per-partition", "100", "--receiver-timeout", "5s", "--operation-timeout", "20s"}
			first := startStreamProcess(t, bin, args...)
			first.waitUntil(t, "a batch that read events", wroteEvents.MatchString)
			second := startStreamProcess(t, bin, args...)
			began := time.Now()
			var loser *streamProcess
			select {
			case <-first.exited:
				loser = first
			case <-second.exited:
				loser = second
			case <-ctx.Done():
				t.Fatalf("neither instance stopped:\nfirst:\n%s\nsecond:\n%s", first.output(), second.output())
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("an instance stopped %s after the second started, want within a few batches", took)
			}
			out := loser.output()
			if !strings.Contains(out, "another instance of job "+fmt.Sprintf("%q", job)) {
				t.Errorf("the instance that stopped did not say another instance of the job runs:\n%s", out)
			}
			for _, p := range []*streamProcess{first, second} {
				if o := p.output(); regexp.MustCompile(`(?i)unique constraint|duplicate key`).MatchString(o) {
					t.Errorf("an instance printed the database's constraint error:\n%s", o)
				}
			}
			t.Logf("the instance that stopped:\n%s", out)
			winner := first
			if loser == first {
				winner = second
			}
			winner.cmd.Process.Signal(os.Interrupt)
			<-winner.exited
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := cli(t, "", streamArgs(cs, spec, table, job)...); code != 0 {
				t.Fatalf("the run after: exit %d\n%s%s", code, out, errOut)
			}
			sk := sinkDB(t, spec, table)
			jb, _ := offsets.JobFor(job, eventhubs.NewConf(cs))
			checkArchive(t, sk, table, jb, 2, 6000)
		})
	}
}

// Another job writing the hub's events into a table that holds them
// already gets an error saying so, never the database's bare constraint
// error.
func TestStreamAnotherJobIntoTheSameTable(t *testing.T) {
	for _, sc := range sinkCases {
		t.Run(sc.name, func(t *testing.T) {
			spec := sc.spec(t)
			srv := startInProcess(t, emulator.HubConfig{Name: "shared", PartitionCount: 1})
			cs := srv.ConnectionString("shared")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sendTo(t, ctx, srv.ConnectionString(""), "shared", "0", 20)
			table := uniqueName("events")
			sinkDB(t, spec, table)
			if code, out, errOut := cli(t, "", streamArgs(cs, spec, table, uniqueName("job"))...); code != 0 {
				t.Fatalf("first job: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut := cli(t, "", streamArgs(cs, spec, table, uniqueName("job"))...)
			if code == 0 || !strings.Contains(errOut, "written by another job") || !strings.Contains(errOut, "--table NEW") {
				t.Errorf("a second job into the same table: exit %d, want the duplicate explained\n%s%s", code, out, errOut)
			}
		})
	}
}

// batchEvents adds up the events of the batch lines of ehstream stream's
// output.
func batchEvents(out string) int {
	n := 0
	for _, m := range batchLineRE.FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(m[2])
		n += k
	}
	return n
}

// waitForPositions polls the sink until it holds n stored positions; the
// stream must not exit meanwhile.
func waitForPositions(t *testing.T, p *streamProcess, spec string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if countStoredPositions(spec) >= n {
			return
		}
		select {
		case err := <-p.exited:
			t.Fatalf("ehstream stream exited (%v) before storing %d positions:\n%s", err, n, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ehstream stream did not store %d positions within 60s:\n%s", n, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countStoredPositions(spec string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sk, err := sqlsink.OpenForReading(ctx, spec)
	if err != nil {
		return 0 // not yet made
	}
	defer sk.Close()
	ps, err := sk.Store.Positions(ctx, offsets.Job{})
	if err != nil {
		return 0
	}
	return len(ps)
}
