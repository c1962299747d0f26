package monitor_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/monitor"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/streaming"
)

// A stream with its status page, JSON endpoints, metrics and health checks
// on 127.0.0.1:4040: New adds the monitor to the context's listeners, and
// the monitor is the handler.
func Example() {
	ctx := context.Background()
	ssc, err := streaming.NewContext(time.Second, nil)
	if err != nil {
		log.Fatal(err)
	}
	conf := eventhubs.NewConf(os.Getenv("EVENTHUB_CONNECTION_STRING")).SetConsumerGroup("archiver")
	stream, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		log.Fatal(err)
	}
	stream.ForeachRDD(func(ctx context.Context, rdd *eventhubs.RDD) error {
		return nil // the output
	})

	m := monitor.New(ssc, &monitor.Options{Job: "archive", Hub: conf.EventHubName(), ConsumerGroup: conf.ConsumerGroup()})
	go http.ListenAndServe("127.0.0.1:4040", m)

	if err := ssc.RunUntilSignal(ctx); err != nil {
		log.Fatal(err)
	}
}

// Replicas sharing a consumer group tell the monitor which partitions they
// gain and lose, and each shows the whole job: every partition of the hub,
// whichever replica reads it, and the age of its oldest unread event, read
// in a consumer group of its own. The handler can be mounted under a path
// of a program's own server.
func Example_replicas() {
	ctx := context.Background()
	ssc, err := streaming.NewContext(time.Second, nil)
	if err != nil {
		log.Fatal(err)
	}
	stream, err := eventhubs.CreateDirectStream(ssc, eventhubs.NewConf(os.Getenv("EVENTHUB_CONNECTION_STRING")))
	if err != nil {
		log.Fatal(err)
	}
	m := monitor.New(ssc, &monitor.Options{Job: "archive", Owner: "replica-1"})
	store, closer, err := ownership.Open(ctx, "sqlite:ownership.db", "archive", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer closer.Close()
	err = stream.SetOwnershipStore(store, &eventhubs.OwnershipOptions{OwnerID: "replica-1", OnChange: m.OwnershipChanged})
	if err != nil {
		log.Fatal(err)
	}
	if err := stream.WatchJob(m.JobObserved, &eventhubs.WatchOptions{LagConsumerGroup: "monitoring"}); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/stream/", http.StripPrefix("/stream", m))
	go http.ListenAndServe("127.0.0.1:8080", mux)
	// stream.ForeachRDD(...); ssc.RunUntilSignal(ctx)
}
