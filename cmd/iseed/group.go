package main

import (
	"context"
	"sync"
)

// actor is a long-running component.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runGroup runs actors until ctx is done or the first of them returns; then
// it cancels the rest, waits for all, and returns the first error.
func runGroup(ctx context.Context, actors ...actor) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(actors))
	var wg sync.WaitGroup
	for _, a := range actors {
		wg.Go(func() {
			err := a.run(ctx)
			cancel()
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
