package linesend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// sender batches events with the same partition key.
type sender struct {
	ctx       context.Context
	producer  *azeventhubs.ProducerClient
	partition string
	timeout   time.Duration

	batch    *azeventhubs.EventDataBatch
	batchKey string
	res      Result
	firstN   int // the first line in the batch
}

// add puts the event of line n in the batch of its key, sending the batch
// before when the key differs or the event does not fit.
func (s *sender) add(n int, ev *azeventhubs.EventData, key string) error {
	if s.batch != nil && key != s.batchKey {
		if err := s.flush(); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if s.batch == nil {
			if err := s.newBatch(n, key); err != nil {
				return err
			}
		}
		err := s.batch.AddEventData(ev, nil)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, azeventhubs.ErrEventDataTooLarge) && s.batch.NumEvents() > 0 && attempt == 0:
			if err := s.flush(); err != nil {
				return err
			}
		case errors.Is(err, azeventhubs.ErrEventDataTooLarge):
			return &LineError{Line: n, Err: fmt.Errorf("the event (%d bytes of body) is larger than the hub accepts", len(ev.Body))}
		default:
			return &LineError{Line: n, Err: err}
		}
	}
}

// newBatch starts the batch of key with line n.
func (s *sender) newBatch(n int, key string) error {
	opts := &azeventhubs.EventDataBatchOptions{}
	if s.partition != "" {
		opts.PartitionID = &s.partition
	}
	if key != "" {
		opts.PartitionKey = &key
	}
	b, err := s.producer.NewEventDataBatch(s.ctx, opts)
	if err != nil {
		return s.sendError(err)
	}
	s.batch, s.batchKey, s.firstN = b, key, n
	return nil
}

// flush sends the batch, if it holds events.
func (s *sender) flush() error {
	if s.batch == nil || s.batch.NumEvents() == 0 {
		return nil
	}
	ctx := s.ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if err := s.producer.SendEventDataBatch(ctx, s.batch, nil); err != nil {
		return s.sendError(err)
	}
	s.res.Sent += int(s.batch.NumEvents())
	s.batch = nil
	return nil
}

func (s *sender) sendError(err error) error {
	if s.partition != "" {
		return fmt.Errorf("send to partition %s: %w", s.partition, err)
	}
	return fmt.Errorf("send: %w", err)
}

// unsent is the first line of the batch not sent; 0 when none is waiting.
func (s *sender) unsent() int {
	if s.batch != nil && s.batch.NumEvents() > 0 {
		return s.firstN
	}
	return 0
}
