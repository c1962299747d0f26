package eventhubs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
)

// otherProgram is a conf for hub on srv whose connection string names the
// host as "localhost": the pool gives it connections of its own, as another
// process would have.
func otherProgram(srv *emulator.Server, hub string) *eventhubs.Conf {
	return eventhubs.NewConf(strings.Replace(srv.ConnectionString(hub), "127.0.0.1", "localhost", 1)).
		SetReceiverTimeout(5 * time.Second).
		SetOperationTimeout(10 * time.Second)
}

// An ad-hoc read (CreateRDD, SetExclusive not called) while a direct stream
// runs takes nothing from it: in the stream's consumer group it is refused
// with CodeOwnershipLost saying what to do, whether from another program or
// from the stream's own; in another consumer group it reads; and the stream
// goes on reading every event once. SetExclusive(true) is the explicit
// choice to take the partitions: the stream then stops with
// CodeOwnershipLost.
func TestAdHocReadLeavesARunningStreamAlone(t *testing.T) {
	srv := startEmulator(t, emulator.HubConfig{Name: "live", PartitionCount: 2, ConsumerGroups: []string{"adhoc"}})
	ctx := testCtx(t, 90*time.Second)
	for p := range 2 {
		fill(t, ctx, srv, "live", fmt.Sprint(p), 0, 20)
	}
	log := newStreamLog()
	ssc := newSSC(t, 20*time.Millisecond)
	ds, err := eventhubs.CreateDirectStream(ssc, testConf(srv, "live"))
	if err != nil {
		t.Fatal(err)
	}
	ds.ForeachRDD(log.output)
	done := runSSC(t, ctx, ssc)
	waitFor(t, 20*time.Second, "the stream to read the first 40 events", func() bool { return log.count() == 40 })

	read := func(conf *eventhubs.Conf) (int, error) {
		rdd, err := eventhubs.CreateRDD(ctx, conf, []eventhubs.OffsetRange{
			{Name: "live", PartitionID: "0", FromSeqNo: 0, UntilSeqNo: 20},
			{Name: "live", PartitionID: "1", FromSeqNo: 0, UntilSeqNo: 20},
		})
		if err != nil {
			return 0, err
		}
		evs, err := rdd.Collect(ctx)
		return len(evs), err
	}
	for name, conf := range map[string]*eventhubs.Conf{
		"another program":  otherProgram(srv, "live"),
		"the same program": testConf(srv, "live"),
	} {
		_, err := read(conf)
		if errCode(err) != eventhubs.CodeOwnershipLost || !strings.Contains(err.Error(), `consumer group "$Default"`) ||
			!strings.Contains(err.Error(), "another consumer group") {
			t.Errorf("%s: an ad-hoc read in the stream's consumer group: err = %v; want %s naming the group and saying to read with another",
				name, err, eventhubs.CodeOwnershipLost)
		}
	}
	if n, err := read(otherProgram(srv, "live").SetConsumerGroup("adhoc")); err != nil || n != 40 {
		t.Errorf("an ad-hoc read in another consumer group: %d events, %v; want 40", n, err)
	}

	for p := range 2 {
		fill(t, ctx, srv, "live", fmt.Sprint(p), 20, 20)
	}
	waitFor(t, 20*time.Second, "the stream to read 80 events", func() bool { return log.count() == 80 })
	select {
	case err := <-done:
		t.Fatalf("the stream stopped after the ad-hoc reads: %v", err)
	default:
	}
	for p := range 2 {
		log.checkExactlyOnce(t, fmt.Sprint(p), 40)
	}

	// The explicit choice: take the partitions.
	if n, err := read(otherProgram(srv, "live").SetExclusive(true)); err != nil || n != 40 {
		t.Fatalf("an exclusive read: %d events, %v; want 40", n, err)
	}
	for p := range 2 {
		fill(t, ctx, srv, "live", fmt.Sprint(p), 40, 1)
	}
	if err := waitRun(t, done); errCode(err) != eventhubs.CodeOwnershipLost {
		t.Fatalf("the stream after an exclusive read took its partitions: Run = %v, want %s", err, eventhubs.CodeOwnershipLost)
	}
}
