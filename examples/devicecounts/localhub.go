package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator"
)

// localPartitions is how many partitions the local hub has.
const localPartitions = 4

// sampleStart is the event time of the first sample reading. Each run
// with the local Event Hubs sends the next 10 minutes of readings, so
// that a run closes the minutes the run before left open.
var sampleStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// localHub starts a local Event Hubs in this process (package emulator),
// keeping its events in dir, and sends its hub "telemetry" n readings of
// 8 devices over the next 10 minutes of sample time, out of order by up
// to 20 s, spread over the partitions; then three readings 5 minutes
// older than the first, which arrive late, and one without a time.
func localHub(ctx context.Context, dir string, n int) (*emulator.Server, error) {
	srv, err := emulator.Start(ctx, &emulator.Config{DataDir: dir, Hubs: []emulator.HubConfig{{Name: "telemetry", PartitionCount: localPartitions}}})
	if err != nil {
		return nil, err
	}
	p, err := azeventhubs.NewProducerClientFromConnectionString(srv.ConnectionString("telemetry"), "", nil)
	if err == nil {
		err = sendSamples(ctx, p, n)
		p.Close(context.Background())
	}
	if err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

func sendSamples(ctx context.Context, p *azeventhubs.ProducerClient, n int) error {
	sent, err := eventsIn(ctx, p)
	if err != nil {
		return err
	}
	start := sampleStart.Add(time.Duration(sent/int64(n+4)) * 10 * time.Minute)
	rnd := rand.New(rand.NewPCG(uint64(start.Unix()), 26))
	step := 10 * time.Minute / time.Duration(n)
	bodies := make([][][]byte, localPartitions)
	for i := range n {
		jitter := time.Duration(rnd.IntN(40_001)-20_000) * time.Millisecond
		t := start.Add(time.Duration(i)*step + jitter)
		bodies[i%localPartitions] = append(bodies[i%localPartitions], readingBody(fmt.Sprintf("device-%d", i%8), t))
	}
	for i := range 3 {
		bodies[i] = append(bodies[i], readingBody("device-0", start.Add(-5*time.Minute)))
	}
	bodies[3] = append(bodies[3], []byte(`{"device":"device-1","reading":7}`))
	for part, bs := range bodies {
		if err := sendTo(ctx, p, strconv.Itoa(part), bs); err != nil {
			return err
		}
	}
	return nil
}

// eventsIn counts the events the hub holds: those of earlier runs.
func eventsIn(ctx context.Context, p *azeventhubs.ProducerClient) (int64, error) {
	var n int64
	for part := range localPartitions {
		props, err := p.GetPartitionProperties(ctx, strconv.Itoa(part), nil)
		if err != nil {
			return 0, err
		}
		if !props.IsEmpty {
			n += props.LastEnqueuedSequenceNumber + 1
		}
	}
	return n, nil
}

// readingBody is a reading of device at t, t in RFC 3339.
func readingBody(device string, t time.Time) []byte {
	return fmt.Appendf(nil, `{"device":%q,"time":%q}`, device, t.UTC().Format(time.RFC3339Nano))
}

// sendTo sends bodies to a partition, in order, in as few batches as fit.
func sendTo(ctx context.Context, p *azeventhubs.ProducerClient, partition string, bodies [][]byte) error {
	for len(bodies) > 0 {
		batch, err := p.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			return err
		}
		n := 0
		for ; n < len(bodies); n++ {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: bodies[n]}, nil); err != nil {
				if n == 0 {
					return err
				}
				break // full: the rest go in the next batch
			}
		}
		if err := p.SendEventDataBatch(ctx, batch, nil); err != nil {
			return err
		}
		bodies = bodies[n:]
	}
	return nil
}
