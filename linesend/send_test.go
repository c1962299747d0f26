package linesend_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/linesend"
)

// hub starts an emulator with hub "h" of two partitions, and returns a
// producer and a Conf for it.
func hub(t *testing.T) (*azeventhubs.ProducerClient, *eventhubs.Conf) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, &emulator.Config{Hubs: []emulator.HubConfig{{Name: "h", PartitionCount: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	producer, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString(""), "h", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		producer.Close(context.Background())
		eventhubs.CloseAll(context.Background())
		srv.Close()
	})
	return producer, eventhubs.NewConf(srv.ConnectionString("h"))
}

// events reads everything the hub holds, by partition.
func events(t *testing.T, conf *eventhubs.Conf) map[string][]*eventhubs.Event {
	t.Helper()
	ctx := context.Background()
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []eventhubs.OffsetRange
	for _, b := range hp.Partitions {
		ranges = append(ranges, eventhubs.OffsetRange{Name: "h", PartitionID: b.PartitionID, FromSeqNo: b.First, UntilSeqNo: b.End})
	}
	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rdd.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*eventhubs.Event{}
	for _, ev := range evs {
		out[ev.PartitionID] = append(out[ev.PartitionID], ev)
	}
	return out
}

func TestSendTextAndJSON(t *testing.T) {
	producer, conf := hub(t)
	ctx := context.Background()
	res, err := linesend.Send(ctx, producer, strings.NewReader("one\r\ntwo\n\n  \nthree"),
		&linesend.Options{PartitionID: "1", Properties: map[string]any{"src": "test"}, Timeout: 10 * time.Second})
	if err != nil || res != (linesend.Result{Sent: 3, Blank: 2}) {
		t.Fatalf("Send of text = %+v, %v; want 3 sent, 2 blank", res, err)
	}
	lines := `{"body":{"t":21.5},"properties":{"src":"json"},"partitionKey":"dev-1"}` + "\n" + `{"body":"x"}` + "\n"
	res, err = linesend.Send(ctx, producer, strings.NewReader(lines),
		&linesend.Options{JSON: true, PartitionKey: "dev-1", Properties: map[string]any{"src": "flag", "n": "1"}})
	if err != nil || res.Sent != 2 {
		t.Fatalf("Send of JSON = %+v, %v; want 2 sent", res, err)
	}
	got := events(t, conf)
	var texts []string
	for _, ev := range got["1"] {
		if ev.Properties["src"] == "test" {
			texts = append(texts, string(ev.Body))
		}
	}
	if strings.Join(texts, ",") != "one,two,three" {
		t.Errorf("partition 1 holds text events %q, want one, two, three", texts)
	}
	var keyed []*eventhubs.Event
	for _, evs := range got {
		for _, ev := range evs {
			if ev.PartitionKey == "dev-1" {
				keyed = append(keyed, ev)
			}
		}
	}
	// A JSON line's properties win over Options.Properties; the key of
	// Options is a line's without one: both land together.
	if len(keyed) != 2 || string(keyed[0].Body) != `{"t":21.5}` || keyed[0].Properties["src"] != "json" || keyed[0].Properties["n"] != "1" ||
		string(keyed[1].Body) != "x" || keyed[1].Properties["src"] != "flag" || keyed[0].PartitionID != keyed[1].PartitionID {
		t.Errorf("the JSON events: %+v", keyed)
	}
}

func TestSendErrors(t *testing.T) {
	producer, _ := hub(t)
	ctx := context.Background()
	if _, err := linesend.Send(ctx, producer, strings.NewReader("a\n"), &linesend.Options{PartitionID: "0", PartitionKey: "k"}); !errors.Is(err, linesend.ErrKeyWithPartition) {
		t.Errorf("a key with a partition ID: %v, want ErrKeyWithPartition", err)
	}
	res, err := linesend.Send(ctx, producer, strings.NewReader(`{"body":"a"}`+"\n"+`{"body":"b","partitionKey":"k"}`+"\n"),
		&linesend.Options{JSON: true, PartitionID: "0"})
	var le *linesend.LineError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, linesend.ErrKeyWithPartition) {
		t.Errorf("a JSON line's key with a partition ID: %v, want a LineError of line 2 with ErrKeyWithPartition", err)
	}
	// Line 1 went out before line 2 was read, or is waiting in a batch.
	if res.Sent+min(res.FirstUnsent, 1) != 1 || res.FirstUnsent > 1 {
		t.Errorf("Result %+v: want line 1 sent or first unsent", res)
	}
	_, err = linesend.Send(ctx, producer, strings.NewReader(`{"body":"a"}`+"\n"+`{"bdy":"b"}`+"\n"), &linesend.Options{JSON: true})
	if !errors.As(err, &le) || err.Error() != `line 2: not a JSON event: json: unknown field "bdy"` {
		t.Errorf("a misspelt field: %v", err)
	}
	_, err = linesend.Send(ctx, producer, strings.NewReader("a\n"+strings.Repeat("x", linesend.MaxLine+1)+"\n"), nil)
	if err == nil || err.Error() != "line 2 is longer than 4194304 bytes" {
		t.Errorf("a line too long: %v", err)
	}
	res, err = linesend.Send(ctx, producer, strings.NewReader("a\n"+strings.Repeat("x", 2<<20)+"\n"), &linesend.Options{PartitionID: "0"})
	if !errors.As(err, &le) || err.Error() != "line 2: the event (2097152 bytes of body) is larger than the hub accepts" || res.Sent+res.FirstUnsent != 1 {
		t.Errorf("an event too large: %+v, %v", res, err)
	}
	_, err = linesend.Send(ctx, producer, strings.NewReader("a\n"), &linesend.Options{PartitionID: "9"})
	if err == nil || !strings.HasPrefix(err.Error(), "send to partition 9: ") {
		t.Errorf("a partition the hub does not have: %v", err)
	}
}
