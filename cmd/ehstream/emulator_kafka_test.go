package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

const cliKafkaKey = "a2Fma2Eta2V5LW9mLXRoZS1jbGktdGVzdHM="

// kafkaCLIClient is a kgo client of an `ehstream emulator`'s Kafka
// endpoint; tc and a connection string for SASL PLAIN when not nil/"".
func kafkaCLIClient(t *testing.T, addr string, tc *tls.Config, connStr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if connStr != "" {
		opts = append(opts, kgo.SASL(plain.Auth{User: "$ConnectionString", Pass: connStr}.AsMechanism()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestEmulatorKafkaCommand: `ehstream emulator --kafka-listen ADDR
// --kafka-tls-listen ADDR` with a policy prints both Kafka addresses; kgo
// with SASL PLAIN produces over TLS (verifying the --tls-ca-out CA) and
// consumes over plain TCP.
func TestEmulatorKafkaCommand(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	e := runEmulatorInProcess(t, "--in-memory", "--listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0",
		"--tls-self-signed", "--tls-listen", "127.0.0.1:0", "--tls-ca-out", ca, "--kafka-tls-listen", "127.0.0.1:0",
		"--sas-policy", "app="+cliKafkaKey)
	plainAddr := e.printed(t, `Kafka \(kafka\): +(\S+)`)
	tlsAddr := e.printed(t, `Kafka \(kafka\+tls\): +(\S+)`)
	_, port, _ := net.SplitHostPort(tlsAddr)
	connStr := "Endpoint=sb://localhost:" + port + "/;SharedAccessKeyName=app;SharedAccessKey=" + cliKafkaKey
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := kafkaCLIClient(t, tlsAddr, trustCA(t, ca), connStr, kgo.DefaultProduceTopic("eh1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "cli-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce over TLS: %v", err)
		}
	}
	got := readAllKafka(ctx, t, kafkaCLIClient(t, plainAddr, nil, connStr, readBothPartitions...))
	for i := range 10 {
		at := kafkaPlace{int32(i % 2), int64(i / 2)}
		if v := got[at]; v != fmt.Sprintf("cli-%d", i) {
			t.Fatalf("consumed %q at %+v, want cli-%d", v, at, i)
		}
	}
	if code := e.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestEmulatorKafkaFlags: --kafka-listen alone is 127.0.0.1:9092 and
// --kafka-tls-listen alone 127.0.0.1:9093; bad values and a plain Kafka
// listener off loopback without --insecure are refused, saying why.
func TestEmulatorKafkaFlags(t *testing.T) {
	c, err := parseEmulatorFlags([]string{"--in-memory", "--kafka-listen", "--tls-self-signed", "--kafka-tls-listen"}, io.Discard)
	if err != nil || c.cfg.KafkaListen != "127.0.0.1:9092" || c.cfg.KafkaTLSListen != "127.0.0.1:9093" {
		t.Fatalf("bare flags: %v; Kafka %q, Kafka TLS %q; want 127.0.0.1:9092 and 127.0.0.1:9093", err, c.cfg.KafkaListen, c.cfg.KafkaTLSListen)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kafka-listen", "nine"}, `invalid value "nine" for flag -kafka-listen: want host:port`},
		{[]string{"--kafka-listen=:x:"}, "want host:port, such as 127.0.0.1:9092"},
		{[]string{"--kafka-tls-listen", "127.0.0.1:0"}, "--kafka-tls-listen needs a certificate"},
		{[]string{"--kafka-listen", "0.0.0.0:0"}, "plain Kafka without TLS"},
		{[]string{"--kafka-listen", "0.0.0.0:0", "--sas-policy", "app=" + cliKafkaKey}, "--insecure"},
	} {
		args := append([]string{"emulator", "--in-memory", "--listen", "127.0.0.1:0"}, tc.args...)
		var out, errOut strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code := run(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		cancel()
		if code == 0 || !strings.Contains(errOut.String(), tc.want) || strings.Contains(errOut.String(), cliKafkaKey) {
			t.Errorf("ehstream %v: exit %d, stderr %q; want a failure saying %q and no key", args, code, errOut.String(), tc.want)
		}
	}
}

// TestEmulatorKafkaSurvivesSIGKILL: records a Kafka producer (acks=all)
// had acknowledged survive kill -9 of `ehstream emulator` at a random
// moment, each at the offset it was acknowledged at.
func TestEmulatorKafkaSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a child process")
	}
	dir := t.TempDir()
	first := startEmulatorProcess(t, "--data", dir, "--kafka-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	acked, stop := produceUntilKilled(ctx, t, first.kafka)
	killAt := 500 + rand.IntN(3000)
	for acked.count() < killAt {
		if ctx.Err() != nil {
			t.Fatalf("only %d records acknowledged before the deadline", acked.count())
		}
		time.Sleep(2 * time.Millisecond) // polling a counter, not synchronising
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	first.exited <- nil
	want := stop()

	second := startEmulatorProcess(t, "--data", dir, "--kafka-listen", "127.0.0.1:0")
	got := readAllKafka(ctx, t, kafkaCLIClient(t, second.kafka, nil, "", readBothPartitions...))
	for value, at := range want {
		if got[at] != value {
			t.Fatalf("after kill -9: partition %d offset %d holds %q, want the acknowledged %q", at.partition, at.offset, got[at], value)
		}
	}
	t.Logf("killed after %d acknowledgements; all %d acknowledged records survived at their offsets", killAt, len(want))
}

// kafkaPlace is where a record was acknowledged.
type kafkaPlace struct {
	partition int32
	offset    int64
}

// ackedRecords are the records a producer had acknowledged, by value.
type ackedRecords struct {
	mu sync.Mutex
	at map[string]kafkaPlace
}

func (a *ackedRecords) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

// produceUntilKilled produces to both partitions of eh1 with acks=all
// until stop, which returns what was acknowledged.
func produceUntilKilled(ctx context.Context, t *testing.T, addr string) (*ackedRecords, func() map[string]kafkaPlace) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DefaultProduceTopic("eh1"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(500))
	if err != nil {
		t.Fatal(err)
	}
	acked := &ackedRecords{at: map[string]kafkaPlace{}}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; pctx.Err() == nil; i++ {
			cl.Produce(pctx, &kgo.Record{Value: fmt.Appendf(nil, "r-%d", i)}, func(r *kgo.Record, err error) {
				if err == nil {
					acked.mu.Lock()
					acked.at[string(r.Value)] = kafkaPlace{r.Partition, r.Offset}
					acked.mu.Unlock()
				}
			})
		}
	}()
	return acked, func() map[string]kafkaPlace {
		cancel()
		<-done
		cl.Close() // fails what is still buffered: only acknowledged records count
		acked.mu.Lock()
		defer acked.mu.Unlock()
		return acked.at
	}
}

// readBothPartitions are the options of a client reading both partitions
// of eh1 from the start.
var readBothPartitions = []kgo.Opt{kgo.FetchMaxWait(200 * time.Millisecond),
	kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"eh1": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}})}

// readAllKafka reads what cl consumes (readBothPartitions) to the high
// watermarks of both partitions.
func readAllKafka(ctx context.Context, t *testing.T, cl *kgo.Client) map[kafkaPlace]string {
	t.Helper()
	got := map[kafkaPlace]string{}
	high := map[int32]int64{0: -1, 1: -1}
	read := map[int32]int64{}
	for read[0] < high[0] || read[1] < high[1] || high[0] < 0 || high[1] < 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %v of %v records after restart: %v", read, high, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			high[p.Partition] = p.HighWatermark
			for _, r := range p.Records {
				got[kafkaPlace{r.Partition, r.Offset}] = string(r.Value)
				read[p.Partition] = r.Offset + 1
			}
		})
	}
	return got
}
