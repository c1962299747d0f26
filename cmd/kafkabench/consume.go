package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoConsume reads n events with a kgo consumer of every partition (no
// group), each from starts[p], and returns how many it read.
func (b *bench) kgoConsume(ctx context.Context, starts []int64, n int) (int, error) {
	offsets := map[string]map[int32]kgo.Offset{b.hub: {}}
	for p, s := range starts {
		offsets[b.hub][int32(p)] = kgo.NewOffset().At(s)
	}
	cl, err := kgo.NewClient(b.kgoOptions(kgo.ConsumePartitions(offsets))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return got, err
		}
		var fetchErr error
		fs.EachError(func(topic string, p int32, err error) { fetchErr = fmt.Errorf("fetch %s/%d: %w", topic, p, err) })
		if fetchErr != nil {
			return got, fetchErr
		}
		got += fs.NumRecords()
	}
	return got, nil
}

// sdkConsume reads n events with the SDK: one PartitionClient per
// partition, each from starts[p] to the partition's share of the run's
// events (its end now), in parallel.
func (b *bench) sdkConsume(ctx context.Context, starts []int64, n int) (int, error) {
	ends, err := b.ends(ctx)
	if err != nil {
		return 0, err
	}
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(b.cs, b.hub, azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		return 0, err
	}
	defer cc.Close(ctx)
	var got atomic.Int64
	errs := make([]error, len(starts))
	var wg sync.WaitGroup
	for p := range starts {
		wg.Go(func() { errs[p] = readPartition(ctx, cc, p, starts[p], int(ends[p]-starts[p]), &got) })
	}
	wg.Wait()
	if int(got.Load()) != n {
		errs = append(errs, fmt.Errorf("read %d events, want %d", got.Load(), n))
	}
	return int(got.Load()), errors.Join(errs...)
}

// readPartition reads n events of partition p from sequence number from.
func readPartition(ctx context.Context, cc *azeventhubs.ConsumerClient, p int, from int64, n int, got *atomic.Int64) error {
	pc, err := cc.NewPartitionClient(fmt.Sprint(p), &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{SequenceNumber: &from, Inclusive: true}, Prefetch: 3000})
	if err != nil {
		return err
	}
	defer pc.Close(ctx)
	for n > 0 {
		evs, err := pc.ReceiveEvents(ctx, min(n, 1000), nil)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		n -= len(evs)
		got.Add(int64(len(evs)))
	}
	return nil
}
