package main

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/childproc"
	"github.com/ehstream/ehstream/internal/pgtest"
)

// The example as a user runs it: a local Event Hubs with 2,004 sample
// readings, SQLite. Every reading of the closed minutes is in the table:
// counted in its minute, late (the three old readings), or without a
// time (one); the minutes are printed. A second run sends the next 10
// minutes and closes the minute the first left open: the windows' state
// carried over.
func TestDeviceCountsLocal(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "counts.db")
	runLocal := func(want ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		var out strings.Builder
		if err := run(ctx, []string{"-db", dbPath, "-data", filepath.Join(dir, "data")}, &out); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Fatalf("want %q in the output:\n%s", w, out.String())
			}
		}
	}
	runLocal("minute 2025-01-01T00:08:00Z: device-0=", "device-0=0(+3 late)", "without a readable time, in no minute: device-1=1")
	db, err := openDB(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counted, late, bad := tableSums(t, db)
	// The last minutes stay open (append mode): fewer than 2,000 counted,
	// but not fewer than the 8 closed minutes' worth.
	if late != 3 || bad != 1 || counted < 1500 || counted > 2000 {
		t.Fatalf("counted %d, late %d, without a time %d; want 1,500 to 2,000, 3 and 1", counted, late, bad)
	}
	var open int
	if err := db.QueryRow(`SELECT count(*) FROM device_counts WHERE window_start = '2025-01-01T00:09:00Z'`).Scan(&open); err != nil || open != 0 {
		t.Fatalf("rows of minute 00:09 after the first run: %d (%v), want none: it is open", open, err)
	}
	runLocal("minute 2025-01-01T00:09:00Z: device-0=", "minute 2025-01-01T00:18:00Z: device-0=", "without a readable time, in no minute: device-1=2")
	if counted2, late2, bad2 := tableSums(t, db); late2 < late+3 || bad2 != 2 || counted2 < counted+1900 {
		t.Fatalf("after the second run: counted %d, late %d, without a time %d; want %d+1,900, %d+3 and 2", counted2, late2, bad2, counted, late)
	}
}

// tableSums sums the tables' counts.
func tableSums(t *testing.T, db *sql.DB) (counted, late, bad int64) {
	t.Helper()
	if err := db.QueryRow(`SELECT sum(events), sum(late) FROM device_counts`).Scan(&counted, &late); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT sum(events) FROM device_bad_events`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	return counted, late, bad
}

// Bad flags are refused, naming the value and the cure, before anything
// is opened.
func TestDeviceCountsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-batch-interval", "0s"}, "-batch-interval 0s: want a positive duration"},
		{[]string{"-max-rate-per-partition", "-5"}, "-max-rate-per-partition -5: want a positive number"},
		{[]string{"-lateness", "-1s"}, "-lateness -1s: want 0 or a positive duration"},
		{[]string{"-job", " "}, "-job is empty: name the job"},
		{[]string{"-db", "mysql://u:secret@h/db"}, "-db mysql://: want a postgres:// URL or a SQLite file path"},
		{[]string{"-db", ""}, "-db is empty: give a SQLite file"},
		{[]string{"-ownership", "redis://h"}, "-ownership: ownership: store redis://h: want a postgres:// URL"},
		{[]string{"-ownership", "sqlite:o.db", "-owner-id", ""}, "-owner-id is empty: give each replica its own name"},
		{[]string{"-ownership", "sqlite:o.db", "-ownership-interval", "2s", "-ownership-expiration", "1s"}, "-ownership-expiration 1s: must exceed -ownership-interval 2s"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out strings.Builder
		err := run(context.Background(), append([]string{"-connection-string", "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=h"}, c.args...), &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%v: the error shows a secret: %v", c.args, err)
		}
	}
}

// An event's time is RFC 3339 or Unix milliseconds; anything else is said.
func TestReadingOf(t *testing.T) {
	at := time.Date(2025, 1, 2, 15, 4, 5, 123e6, time.UTC)
	for body, want := range map[string]reading{
		`{"device":"d","time":"2025-01-02T15:04:05.123Z"}`:      {Device: "d", Time: at},
		`{"device":"d","time":"2025-01-02T16:04:05.123+01:00"}`: {Device: "d", Time: at},
		`{"device":"d","time":1735830245123}`:                   {Device: "d", Time: at},
		`{"time":1735830245123}`:                                {Device: unknownDevice, Time: at},
		`{"device":"d"}`:                                        {Device: "d", Bad: "no time"},
		`{"device":"d","time":"yesterday"}`:                     {Device: "d", Bad: `time "yesterday" is not RFC 3339`},
		`{"device":"d","time":1.5}`:                             {Device: "d", Bad: "time 1.5 is neither RFC 3339 nor Unix milliseconds"},
		`not json`:                                              {Device: unknownDevice, Bad: "not a JSON object"},
	} {
		got := readingOf(&eventhubs.Event{Body: []byte(body)})
		if got.Device != want.Device || !got.Time.Equal(want.Time) || got.Bad != want.Bad {
			t.Errorf("%s: %+v, want %+v", body, got, want)
		}
	}
	if m := minuteOf(at); m != "2025-01-02T15:04:00Z" {
		t.Errorf("minuteOf(%s) = %s", at, m)
	}
}

// crashBase is the event time of the crash test's first reading.
var crashBase = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	crashPartitions = 4
	crashJob        = "devicecounts-crash"
	closeDevice     = "close" // the readings far in the future that close every minute
)

var (
	printedBatch = regexp.MustCompile(`(?m)^batch \d+: [1-9]\d* events`)
	// movedIn is a replica's log line of a partition it took from
	// another (whose claim expired or was given up), with its state.
	movedIn = regexp.MustCompile(`partition gained .* reason="?(relinquished|the expired claim of|balanced from)`)
)

// The crash test: the example under a producer with out-of-order
// event times, two replicas on PostgreSQL, 5 kill -9 of random replicas
// and one clean stop; every (minute, device) of the final table equals
// the oracle computed from the hub, once, late items counted.
func TestDeviceCountsReplicasSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example and streams 30,000 events through two replicas")
	}
	pg := pgtest.Fresh(t)
	bin := childproc.Build(t, ".")
	srv, err := emulator.Start(context.Background(), &emulator.Config{Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: crashPartitions}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() { eventhubs.CloseAll(context.Background()) })
	connStr := srv.ConnectionString("telemetry")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	c := &crashRun{t: t, bin: bin, connStr: connStr, pg: pg, replicas: map[string]*childproc.Proc{}}
	defer c.logOnFailure()
	c.start("a")
	c.start("b")
	produced := produceOutOfOrder(ctx, connStr, 30_000, 400)
	working := c.killRandomly(5)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	c.stopOne()
	// The old readings, after rows of later minutes are in the table:
	// behind every partition's watermark, so late.
	waitRows(t, ctx, db)
	if err := sendOldAndClosing(ctx, connStr); err != nil {
		t.Fatal(err)
	}
	ends := hubEnds(t, ctx, connStr)
	c.waitPositions(ctx, db, ends)
	c.stopAll()
	hub := readHub(t, ctx, connStr, ends)
	checkCounts(t, ctx, db, hub)
	if working < 3 {
		t.Fatalf("only %d of 5 killed replicas had written batches: the kills did not hit working replicas", working)
	}
	moves := 0
	for _, r := range c.runs {
		moves += len(movedIn.FindAllString(r.Output(), -1))
	}
	if moves == 0 {
		t.Fatal("no partition moved between replicas: the test did not take state over")
	}
	t.Logf("5 kills, %d of them of a replica that had written batches; one clean stop; %d partitions gained from another replica", working, moves)
}

// crashRun is the crash test's replicas.
type crashRun struct {
	t                *testing.T
	bin, connStr, pg string
	replicas         map[string]*childproc.Proc // by slot ("a", "b"), the running ones
	runs             []*childproc.Proc
}

// start starts the replica of a slot ("a" or "b"), with an owner ID of
// its own, as a restarted pod has: the claims of the one it replaces
// expire, and their partitions move, with their state, to either.
func (c *crashRun) start(slot string) {
	owner := fmt.Sprintf("%s%d", slot, len(c.runs)+1)
	p := childproc.Start(c.t, c.bin, "-connection-string", c.connStr, "-db", c.pg, "-ownership", c.pg, "-owner-id", owner,
		"-job", crashJob, "-batch-interval", "100ms", "-max-rate-per-partition", "400", "-lateness", "20s",
		"-ownership-interval", "200ms", "-ownership-expiration", "2s")
	c.replicas[slot] = p
	c.runs = append(c.runs, p)
}

func (c *crashRun) logOnFailure() {
	if c.t.Failed() {
		for i, r := range c.runs {
			c.t.Logf("run %d:\n%s", i+1, r.Output())
		}
	}
}

// alive fails the test if a replica exited unasked.
func (c *crashRun) alive() {
	c.t.Helper()
	for slot, p := range c.replicas {
		if p.Exited() {
			c.t.Fatalf("replica of slot %s exited unasked: %v\n%s", slot, p.Err(), p.Output())
		}
	}
}

// killRandomly kills a random replica with SIGKILL n times, each once it
// wrote a batch (or after 5 s) and a random while more, and starts it
// again; it returns how many of the killed had written batches.
func (c *crashRun) killRandomly(n int) int {
	working := 0
	for range n {
		slot := []string{"a", "b"}[rand.IntN(2)]
		p := c.replicas[slot]
		p.WaitFor(c.t, printedBatch, 5*time.Second)
		for until := time.Now().Add(time.Duration(200+rand.IntN(800)) * time.Millisecond); time.Now().Before(until); {
			c.alive()
			time.Sleep(20 * time.Millisecond)
		}
		p.Kill()
		if printedBatch.MatchString(p.Output()) {
			working++
		}
		c.start(slot)
	}
	return working
}

// stopOne stops a random replica with SIGTERM: it finishes its batch,
// gives up its claims and exits 0.
func (c *crashRun) stopOne() {
	owners := slices.Sorted(maps.Keys(c.replicas))
	c.stop(owners[rand.IntN(len(owners))])
}

func (c *crashRun) stop(slot string) {
	c.t.Helper()
	p := c.replicas[slot]
	if err := p.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	if err := p.Wait(c.t, 30*time.Second); err != nil {
		c.t.Fatalf("replica of slot %s, stopped with SIGTERM: %v\n%s", slot, err, p.Output())
	}
	delete(c.replicas, slot)
}

func (c *crashRun) stopAll() {
	for slot := range c.replicas {
		c.stop(slot)
	}
}

// crashReading is reading i of the producer: partition i%4, device i%7,
// at crashBase + i*40ms, out of order by up to 30 s either way.
func crashReading(i int) (partition int, body []byte) {
	jitter := time.Duration(rand.IntN(60_001)-30_000) * time.Millisecond
	return i % crashPartitions, readingBody(fmt.Sprintf("device-%d", i%7), crashBase.Add(time.Duration(i)*40*time.Millisecond+jitter))
}

// produceOutOfOrder sends n readings in rounds of round, pausing between
// rounds so that the replicas read while it writes.
func produceOutOfOrder(ctx context.Context, connStr string, n, round int) <-chan error {
	done := make(chan error, 1)
	go func() {
		p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
		if err != nil {
			done <- err
			return
		}
		defer p.Close(context.Background())
		for first := 0; first < n; first += round {
			bodies := make([][][]byte, crashPartitions)
			for i := first; i < min(first+round, n); i++ {
				part, b := crashReading(i)
				bodies[part] = append(bodies[part], b)
			}
			if err := sendToEach(ctx, p, bodies); err != nil {
				done <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		done <- nil
	}()
	return done
}

func sendToEach(ctx context.Context, p *azeventhubs.ProducerClient, bodies [][][]byte) error {
	for part, bs := range bodies {
		if err := sendTo(ctx, p, strconv.Itoa(part), bs); err != nil {
			return err
		}
	}
	return nil
}

// sendOldAndClosing sends each partition 5 readings 10 minutes older than
// the first (late), then one far in the future, of device "close", whose
// watermark closes every minute of the others.
func sendOldAndClosing(ctx context.Context, connStr string) error {
	p, err := azeventhubs.NewProducerClientFromConnectionString(connStr, "", nil)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	bodies := make([][][]byte, crashPartitions)
	for part := range bodies {
		for d := range 5 {
			bodies[part] = append(bodies[part], readingBody(fmt.Sprintf("device-%d", d), crashBase.Add(-10*time.Minute)))
		}
		bodies[part] = append(bodies[part], readingBody(closeDevice, crashBase.Add(24*time.Hour)))
	}
	return sendToEach(ctx, p, bodies)
}

// waitRows waits for rows in the table: minutes closed.
func waitRows(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM device_counts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no rows in device_counts after 60s")
		}
	}
}

// hubEnds reads each partition's end: its last sequence number + 1.
func hubEnds(t *testing.T, ctx context.Context, connStr string) map[string]int64 {
	t.Helper()
	c, err := azeventhubs.NewConsumerClientFromConnectionString(connStr, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ends := map[string]int64{}
	for part := range crashPartitions {
		props, err := c.GetPartitionProperties(ctx, strconv.Itoa(part), nil)
		if err != nil {
			t.Fatal(err)
		}
		ends[props.PartitionID] = props.LastEnqueuedSequenceNumber + 1
	}
	return ends
}

// readHub reads every event of the hub back with the SDK, per partition,
// once the replicas stopped (their receivers hold the partitions).
func readHub(t *testing.T, ctx context.Context, connStr string, ends map[string]int64) map[string][]reading {
	t.Helper()
	c, err := azeventhubs.NewConsumerClientFromConnectionString(connStr, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	hub := map[string][]reading{}
	for id, end := range ends {
		pc, err := c.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: to.Ptr(true)}})
		if err != nil {
			t.Fatal(err)
		}
		for int64(len(hub[id])) < end {
			// As many as are left: ReceiveEvents returns when it has them.
			evs, err := pc.ReceiveEvents(ctx, int(min(1000, end-int64(len(hub[id])))), nil)
			if err != nil {
				t.Fatalf("reading partition %s back: %v", id, err)
			}
			for _, e := range evs {
				hub[id] = append(hub[id], readingOf(&eventhubs.Event{Body: e.Body}))
			}
		}
		pc.Close(context.Background())
	}
	return hub
}

// waitPositions waits until the job's stored positions are the hub's
// ends: every event read, its batch committed.
func (c *crashRun) waitPositions(ctx context.Context, db *sql.DB, want map[string]int64) {
	c.t.Helper()
	var got map[string]int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c.alive()
		got = map[string]int64{}
		rows, err := db.QueryContext(ctx, `SELECT partition_id, next_seq FROM ehstream_offsets WHERE job = $1`, crashJob)
		if err != nil {
			c.t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var next int64
			if err := rows.Scan(&id, &next); err != nil {
				c.t.Fatal(err)
			}
			got[id] = next
		}
		rows.Close()
		if maps.Equal(got, want) {
			return
		}
	}
	c.t.Fatalf("stored positions %v after 60s, the hub's ends %v", got, want)
}

// minuteDevice keys the table and the oracle.
type minuteDevice struct{ minute, device string }

// checkCounts compares the table with the oracle from the hub: per
// (minute, device), events + late is the number of its readings; no row
// the oracle lacks; late items counted, the old readings all late.
func checkCounts(t *testing.T, ctx context.Context, db *sql.DB, hub map[string][]reading) {
	t.Helper()
	oracle, total := oracleOf(t, hub)
	got := tableCounts(t, ctx, db)
	var late int64
	for k, n := range got {
		if _, ok := oracle[k]; !ok {
			t.Errorf("row %v %v: no such readings in the hub", k, n)
		}
		late += n[1]
	}
	minutes, wrong := map[string]bool{}, 0
	for k, want := range oracle {
		minutes[k.minute] = true
		if n := got[k]; n[0]+n[1] != want {
			if wrong++; wrong <= 10 {
				t.Errorf("minute %s, %s: %d events + %d late, the hub has %d", k.minute, k.device, n[0], n[1], want)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d (minute, device)s differ from the hub's", wrong, len(oracle))
	}
	old := minuteOf(crashBase.Add(-10 * time.Minute))
	for d := range 5 {
		if n := got[minuteDevice{old, fmt.Sprintf("device-%d", d)}]; n != [2]int64{0, crashPartitions} {
			t.Errorf("minute %s, device-%d: %d events + %d late, want 0 + %d: the old readings are late", old, d, n[0], n[1], crashPartitions)
		}
	}
	if late <= int64(5*crashPartitions) {
		t.Logf("late items: only the %d old readings (the jitter made none late)", late)
	}
	t.Logf("%d readings in %d minutes, %d (minute, device) rows: all equal the hub's; %d late items", total, len(minutes), len(got), late)
}

// oracleOf counts the hub's readings per (minute, device), but those of
// device "close".
func oracleOf(t *testing.T, hub map[string][]reading) (map[minuteDevice]int64, int) {
	t.Helper()
	oracle, total := map[minuteDevice]int64{}, 0
	for id, rs := range hub {
		for seq, r := range rs {
			if r.Bad != "" {
				t.Fatalf("partition %s event %d: %s", id, seq, r.Bad)
			}
			if r.Device != closeDevice {
				oracle[minuteDevice{minuteOf(r.Time), r.Device}]++
				total++
			}
		}
	}
	return oracle, total
}

// tableCounts reads the table: per (minute, device), events and late.
func tableCounts(t *testing.T, ctx context.Context, db *sql.DB) map[minuteDevice][2]int64 {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT window_start, device, events, late FROM device_counts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[minuteDevice][2]int64{}
	for rows.Next() {
		var k minuteDevice
		var n [2]int64
		if err := rows.Scan(&k.minute, &k.device, &n[0], &n[1]); err != nil {
			t.Fatal(err)
		}
		got[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
