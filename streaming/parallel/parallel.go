// Package parallel runs one task per index at once, as a batch's
// partitions are worked: each task in its own goroutine, and none still
// running when the call returns, so that a caller never leaks work past
// the call that started it. There is no cap on how many run together:
// each task is one partition's (one per partition is the design's
// parallelism), and most wait on the service, so a wait as long as a
// receive timeout is paid once for all of them.
//
// Files: parallel.go (Run, Each).
package parallel

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Run runs task(ctx, i) for every i in [0, n), each in its own goroutine
// (the caller's when n is 1), and waits for all of them. The first error
// cancels the context the others run with, with that error as its cause,
// and is returned. For work whose tasks are worth nothing once one fails.
func Run(ctx context.Context, n int, task func(ctx context.Context, i int) error) error {
	if n == 1 {
		return task(ctx, 0)
	}
	g, ctx := errgroup.WithContext(ctx)
	for i := range n {
		g.Go(func() error { return task(ctx, i) })
	}
	return g.Wait()
}

// Each runs task(i) for every i in [0, n), each in its own goroutine, waits
// for all of them, and returns the first error in index order. An error
// stops none of the others: for calls that each ask the service about one
// partition, where every answer is wanted and the first by index is the
// one to report whatever the timing.
func Each(n int, task func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = task(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
