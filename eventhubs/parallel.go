package eventhubs

import "sync"

// inParallel runs do(0) to do(n-1) at once and returns the first error in
// index order. Each call waits on the service for one partition, and a
// wait as long as a receive timeout should be paid once for all of them.
func inParallel(n int, do func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = do(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
