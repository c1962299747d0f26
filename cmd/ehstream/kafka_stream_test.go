package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaEvent is where an event stands in the hub: partition and sequence
// number (a Kafka record's offset).
type kafkaEvent struct {
	partition string
	seq       int64
}

// `ehstream stream` archives records a Kafka client (franz-go) produced,
// exactly once, into SQLite and into files, though killed with SIGKILL
// three times while they arrive: the archive holds every record once, at
// its partition and offset, with its value as body, and nothing else.
func TestStreamArchivesKafkaRecordsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the job as a child process, killed and restarted")
	}
	for _, sink := range []string{"sqlite", "file"} {
		t.Run(sink, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			spec := "sqlite:" + filepath.Join(dir, "kafka.db")
			if sink == "file" {
				spec = "file:" + dir
			}
			srv := startKafkaInProcess(t, emulator.HubConfig{Name: "kafka", PartitionCount: 4})
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
			defer cancel()
			produced := make(chan kafkaProduced, 1)
			go func() { produced <- produceKafkaRounds(ctx, srv.KafkaAddr(), "kafka") }()
			want := streamKilledAndDone(ctx, t, srv.ConnectionString("kafka"), spec, produced, 3)
			var got map[kafkaEvent]string
			if sink == "file" {
				got = readKafkaFiles(ctx, t, spec)
			} else {
				got = readKafkaTable(t, spec, srv.ConnectionString("kafka"), want)
			}
			if len(got) != len(want) {
				t.Fatalf("the archive holds %d events, the Kafka client produced %d", len(got), len(want))
			}
			for at, v := range want {
				if got[at] != v {
					t.Fatalf("partition %s offset %d: archived %q, produced %q", at.partition, at.seq, got[at], v)
				}
			}
			t.Logf("the %s archive holds the %d Kafka records once each", sink, len(want))
		})
	}
}

// startKafkaInProcess runs the emulator in this process with its Kafka
// endpoint on a free port.
func startKafkaInProcess(t *testing.T, hubs ...emulator.HubConfig) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{KafkaListen: "127.0.0.1:0", Hubs: hubs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// kafkaProduced is what produceKafkaRounds produced: each record's value
// by where it landed (from the produce acknowledgements), or its error.
type kafkaProduced struct {
	values map[kafkaEvent]string
	err    error
}

// produceKafkaRounds produces 40 rounds of 200 keyed records with franz-go,
// a round each 100 ms, so that the job is killed while they arrive.
func produceKafkaRounds(ctx context.Context, addr, topic string) kafkaProduced {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return kafkaProduced{err: fmt.Errorf("kgo client: %w", err)}
	}
	defer cl.Close()
	out := map[kafkaEvent]string{}
	for round := range 40 {
		recs := make([]*kgo.Record, 200)
		for i := range recs {
			n := round*len(recs) + i
			recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "key-%d", n%29), Value: fmt.Appendf(nil, "kafka-%d", n)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return kafkaProduced{err: fmt.Errorf("produce round %d: %w", round, err)}
		}
		for _, r := range recs {
			out[kafkaEvent{strconv.Itoa(int(r.Partition)), r.Offset}] = string(r.Value)
		}
		select { // pacing the producer, not synchronising
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return kafkaProduced{values: out}
}

// streamKilledAndDone runs `ehstream stream` into spec, kills it with
// SIGKILL kills times once it has written events, and, once the producer
// is done, runs it to the hub's end (--until-idle); it returns what the
// producer produced.
func streamKilledAndDone(ctx context.Context, t *testing.T, cs, spec string, produced <-chan kafkaProduced, kills int) map[kafkaEvent]string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--connection-string", cs, "--sink", spec, "--batch-interval", "100ms",
		"--max-rate-per-partition", "100", "--job", "kafka-archive", "--http", ""}
	for k := range kills {
		p := startStreamProcess(t, bin, args...)
		p.waitUntil(t, "a batch that read events", wroteEvents.MatchString)
		select {
		case err := <-p.exited:
			t.Fatalf("ehstream stream exited before it was killed: %v\n%s", err, p.output())
		case <-time.After(time.Duration(rand.IntN(400)) * time.Millisecond):
		}
		p.cmd.Process.Kill()
		<-p.exited
		t.Logf("kill -9 #%d", k+1)
	}
	want := <-produced
	if want.err != nil {
		t.Fatal(want.err)
	}
	last := startStreamProcess(t, bin, append(args, "--until-idle")...)
	select {
	case err := <-last.exited:
		if err != nil {
			t.Fatalf("the last run: %v\n%s", err, last.output())
		}
	case <-ctx.Done():
		t.Fatalf("the last run did not finish:\n%s", last.output())
	}
	return want.values
}

// readKafkaTable reads the SQL sink's table (events) and checks that the
// job's positions are where the produced records end.
func readKafkaTable(t *testing.T, spec, cs string, want map[kafkaEvent]string) map[kafkaEvent]string {
	t.Helper()
	sk := sinkDB(t, spec, "events")
	rows, err := sk.DB.Query(`SELECT partition_id, sequence_number, body FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[kafkaEvent]string{}
	for rows.Next() {
		var at kafkaEvent
		var body []byte
		if err := rows.Scan(&at.partition, &at.seq, &body); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[at]; dup {
			t.Fatalf("partition %s sequence number %d archived twice", at.partition, at.seq)
		}
		out[at] = string(body)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	job, err := offsets.JobFor("kafka-archive", eventhubs.NewConf(cs))
	if err != nil {
		t.Fatal(err)
	}
	ends := map[string]int64{}
	for at := range want {
		ends[at.partition] = max(ends[at.partition], at.seq+1)
	}
	ps, err := sk.Store.Positions(context.Background(), job)
	if err != nil || len(ps) != 4 {
		t.Fatalf("stored positions %v, %v; want 4", ps, err)
	}
	for _, p := range ps {
		if p.Next != ends[p.Partition] {
			t.Fatalf("partition %s: stored position %d, want %d (the last offset + 1)", p.Partition, p.Next, ends[p.Partition])
		}
	}
	return out
}

// readKafkaFiles checks the file sink's files (no gap, no overlap) and
// reads their rows.
func readKafkaFiles(ctx context.Context, t *testing.T, spec string) map[kafkaEvent]string {
	t.Helper()
	dest, err := capture.OpenDestination(ctx, spec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hubs, err := capture.CheckAllFiles(ctx, dest)
	if err != nil || len(hubs) != 1 || len(hubs[0].Partitions) != 4 || len(hubs[0].Strays) > 0 {
		t.Fatalf("CheckAllFiles = %+v, %v; want one hub of 4 partitions", hubs, err)
	}
	out := map[kafkaEvent]string{}
	root := strings.TrimPrefix(spec, "file:")
	store := fileStore{read: func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) }}
	for _, p := range hubs[0].Partitions {
		if len(p.Gaps) > 0 || len(p.Overlaps) > 0 {
			t.Fatalf("partition %s: gaps %v, overlaps %v", p.PartitionID, p.Gaps, p.Overlaps)
		}
		for _, f := range p.Files {
			for _, r := range readCrashRows(t, store, f) {
				at := kafkaEvent{r.PartitionID, r.SequenceNumber}
				if _, dup := out[at]; dup {
					t.Fatalf("%s: partition %s sequence number %d archived twice", f.Path(), at.partition, at.seq)
				}
				out[at] = string(r.Body)
			}
		}
	}
	return out
}
