package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoOptions are the client's settings both kgo phases use: kgo's
// defaults (idempotent writes) but no compression, as the SDK sends, and
// requests within the service's 1,046,528 bytes, as its Kafka
// configuration guide asks.
func (b *bench) kgoOptions(opts ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(b.kafkaAddr), kgo.BrokerMaxWriteBytes(1_040_000),
		kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)
}

// kgoProduce produces c.events records with no key (kgo's sticky
// partitioner spreads them over the partitions), all in flight at once
// up to kgo's buffer, and waits for every acknowledgement.
func (b *bench) kgoProduce(ctx context.Context) (int, error) {
	cl, err := kgo.NewClient(b.kgoOptions(kgo.DefaultProduceTopic(b.hub))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	body := bytes.Repeat([]byte("k"), b.c.size)
	var mu sync.Mutex
	var firstErr error
	for range b.c.events {
		cl.Produce(ctx, &kgo.Record{Value: body}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	return b.c.events, firstErr
}

// sdkProduce sends c.events events with the SDK's ProducerClient: one
// sender per partition, each sending full batches (the SDK's default
// batch size) of its share.
func (b *bench) sdkProduce(ctx context.Context) (int, error) {
	pc, err := azeventhubs.NewProducerClientFromConnectionString(b.cs, b.hub, nil)
	if err != nil {
		return 0, err
	}
	defer pc.Close(ctx)
	body := bytes.Repeat([]byte("a"), b.c.size)
	errs := make([]error, b.c.partitions)
	var wg sync.WaitGroup
	for p := range b.c.partitions {
		share := b.c.events / b.c.partitions
		if p < b.c.events%b.c.partitions {
			share++
		}
		wg.Go(func() { errs[p] = sendShare(ctx, pc, fmt.Sprint(p), share, body) })
	}
	wg.Wait()
	return b.c.events, errors.Join(errs...)
}

// sendShare sends n events to one partition in full batches.
func sendShare(ctx context.Context, pc *azeventhubs.ProducerClient, partition string, n int, body []byte) error {
	for n > 0 {
		batch, err := pc.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: &partition})
		if err != nil {
			return err
		}
		for n > 0 {
			if err := batch.AddEventData(&azeventhubs.EventData{Body: body}, nil); errors.Is(err, azeventhubs.ErrEventDataTooLarge) {
				break
			} else if err != nil {
				return err
			}
			n--
		}
		if err := pc.SendEventDataBatch(ctx, batch, nil); err != nil {
			return err
		}
	}
	return nil
}
