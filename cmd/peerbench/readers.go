package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/internal/countstream"
	"github.com/ehstream/ehstream/ownership"
)

// receiveMax is the most events one ReceiveEvents call of the SDK's
// readers asks for: a prefetch's worth, what one receive of the stream
// asks for too.
const receiveMax = eventhubs.DefaultPrefetch

// bench is the filled hub the readers read.
type bench struct {
	c            config
	connStr      string
	dir          string // for the Processor's ownership files
	perPartition int
	processors   int // Processors run so far, for a fresh ownership file each
}

// want is the events every reader must read: all of the hub's.
func (b *bench) want() int64 { return int64(b.perPartition * b.c.partitions) }

// read reads every event of the hub once with the reader of that name and
// says how many it read; reading more or fewer is an error.
func (b *bench) read(ctx context.Context, name string) (int64, error) {
	var n int64
	var err error
	switch name {
	case "bare":
		n, err = b.readBare(ctx)
	case "Processor":
		n, err = b.readProcessor(ctx)
	case "stream":
		var res countstream.Result
		res, err = countstream.Run(ctx, eventhubs.NewConf(b.connStr).SetMaxRatePerPartition(b.c.rate).SetReadAhead(b.c.readAhead), b.c.interval, b.want())
		n = res.Events
	default:
		return 0, fmt.Errorf("no reader %q", name)
	}
	if err == nil && n != b.want() {
		err = fmt.Errorf("read %d events, want %d", n, b.want())
	}
	return n, err
}

// readBare reads with a PartitionClient per partition from its start, in
// parallel, each until it has its partition's share.
func (b *bench) readBare(ctx context.Context) (int64, error) {
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(b.connStr, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		return 0, err
	}
	defer cc.Close(context.Background())
	earliest := true
	var got atomic.Int64
	errs := make([]error, b.c.partitions)
	var wg sync.WaitGroup
	for p := range b.c.partitions {
		wg.Go(func() {
			pc, err := cc.NewPartitionClient(strconv.Itoa(p), &azeventhubs.PartitionClientOptions{
				StartPosition: azeventhubs.StartPosition{Earliest: &earliest}, Prefetch: eventhubs.DefaultPrefetch})
			if err != nil {
				errs[p] = fmt.Errorf("partition %d: %w", p, err)
				return
			}
			defer pc.Close(context.Background())
			for left := b.perPartition; left > 0 && errs[p] == nil; {
				evs, err := pc.ReceiveEvents(ctx, min(left, receiveMax), nil)
				left -= len(evs)
				got.Add(int64(len(evs)))
				if err != nil {
					errs[p] = fmt.Errorf("partition %d: %w", p, err)
				}
			}
		})
	}
	wg.Wait()
	return got.Load(), errors.Join(errs...)
}

// readProcessor runs a Processor that claims every partition at once
// (greedy), its ownership in a new SQLite file, and reads with a goroutine
// per partition client until the hub's events are read; then it stops the
// Processor, which gives its partitions up.
func (b *bench) readProcessor(ctx context.Context) (int64, error) {
	b.processors++
	spec := "sqlite:" + filepath.Join(b.dir, fmt.Sprintf("ownership-%d.db", b.processors))
	store, closer, err := ownership.Open(ctx, spec, "peerbench", nil)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(b.connStr, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		return 0, err
	}
	defer cc.Close(context.Background())
	earliest := true
	proc, err := azeventhubs.NewProcessor(cc, store, &azeventhubs.ProcessorOptions{
		LoadBalancingStrategy: azeventhubs.ProcessorStrategyGreedy,
		StartPositions:        azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: &earliest}},
		Prefetch:              eventhubs.DefaultPrefetch,
	})
	if err != nil {
		return 0, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() {
		err := proc.Run(runCtx)
		stop() // a Processor that failed hands out no more partition clients
		runErr <- err
	}()
	got := drainProcessor(runCtx, proc, b.perPartition, b.want(), stop)
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return got, err
	}
	return got, ctx.Err()
}

// drainProcessor reads every partition client proc hands out, each until
// it has its partition's share (perPartition), counting the events, and
// calls done once want are read; it returns when ctx ends and every
// reading goroutine has. Asking for no more than a partition has left
// keeps the last receive from waiting for events that will never come,
// as readBare does.
func drainProcessor(ctx context.Context, proc *azeventhubs.Processor, perPartition int, want int64, done func()) int64 {
	var got atomic.Int64
	var wg sync.WaitGroup
	for {
		pc := proc.NextPartitionClient(ctx)
		if pc == nil {
			break
		}
		wg.Go(func() {
			defer pc.Close(context.Background())
			for left := perPartition; left > 0; {
				evs, err := pc.ReceiveEvents(ctx, min(left, receiveMax), nil)
				left -= len(evs)
				if got.Add(int64(len(evs))) >= want {
					done()
				}
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return got.Load()
}
