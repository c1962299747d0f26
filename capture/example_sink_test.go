package capture_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/ehstream/ehstream/capture"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/localhub"
	"github.com/ehstream/ehstream/streaming"
)

// A stream into files in a directory, exactly once: Resume before the
// stream is made, Attach, run, Close; then CheckFiles says what the files
// cover. A restart on the same directory goes on where the files end.
func ExampleSink() {
	ctx := context.Background()
	hub, err := localhub.Start(ctx, &localhub.Config{Hub: "orders", Partitions: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	defer eventhubs.CloseAll(ctx)
	if err := localhub.Fill(ctx, hub.ConnectionString(), 2, 100, nil); err != nil {
		log.Fatal(err)
	}
	root, _ := os.MkdirTemp("", "capture-example")
	defer os.RemoveAll(root)

	dest, err := capture.NewDir(root)
	if err != nil {
		log.Fatal(err)
	}
	// jsonLines stands for capture's Avro or Parquet format.
	sink, err := capture.NewSink(dest, jsonLines{}, &capture.SinkOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	conf := eventhubs.NewConf(hub.ConnectionString()).SetMaxRatePerPartition(30)
	if _, err := sink.Resume(ctx, conf); err != nil {
		log.Fatal(err)
	}
	ssc, _ := streaming.NewContext(20*time.Millisecond, &streaming.ContextOptions{NoBatchLog: true})
	ds, err := eventhubs.CreateDirectStream(ssc, conf)
	if err != nil {
		log.Fatal(err)
	}
	if err := sink.Attach(ds); err != nil {
		log.Fatal(err)
	}
	ssc.AddListener(streaming.ListenerFunc(func(b streaming.BatchInfo) {
		if streaming.EmptyBatch(b) {
			ssc.Stop(true) // once the hub is read
		}
	}))
	if err := ssc.Run(ctx); err != nil {
		log.Fatal(err)
	}
	if err := sink.Close(ctx); err != nil { // finishes the open files
		log.Fatal(err)
	}

	host, _ := conf.NamespaceHost()
	files, err := capture.CheckFiles(ctx, dest, host, "orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range files.Partitions {
		from, until := p.Ends()
		fmt.Printf("partition %s: %d file(s), [%d, %d), %d gaps, %d overlaps\n", p.PartitionID, len(p.Files), from, until, len(p.Gaps), len(p.Overlaps))
	}
	// Output:
	// partition 0: 1 file(s), [0, 100), 0 gaps, 0 overlaps
	// partition 1: 1 file(s), [0, 100), 0 gaps, 0 overlaps
}
