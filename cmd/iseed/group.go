package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// every calls fn each interval until ctx is done (first after one
// interval), and returns nil: the loop of the daemon's periodic actors.
func every(ctx context.Context, interval time.Duration, fn func()) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			fn()
		}
	}
}

// actor is a long-running component.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runGroup runs actors until ctx is done or the first of them returns; then
// it cancels the rest and waits for all, at most stopWithin from that
// moment, and returns the first error. An actor still running then is
// abandoned (its goroutine outlives the group: the process is about to
// exit, and a bounded exit is what the orchestrator's grace period is sized
// by), and runGroup returns an error naming it.
func runGroup(ctx context.Context, stopWithin time.Duration, actors ...actor) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(actors)) // buffered: an abandoned actor never blocks
	running := map[string]int{}
	for _, a := range actors {
		running[a.name]++
		go func() { // waited for below, within stopWithin of the stop
			err := a.run(ctx)
			cancel()
			results <- result{a.name, err}
		}()
	}
	var first error
	stopped := ctx.Done()
	var deadline <-chan time.Time
	for left := len(actors); left > 0; {
		select {
		case r := <-results:
			left--
			running[r.name]--
			if first == nil {
				first = r.err
			}
		case <-stopped:
			stopped = nil
			t := time.NewTimer(stopWithin)
			defer t.Stop()
			deadline = t.C
		case <-deadline:
			return errors.Join(first, fmt.Errorf("shutdown: %s still running %s after the stop: abandoned (their messages are redelivered after AckWait)",
				stillRunning(running), stopWithin))
		}
	}
	return first
}

// stillRunning lists the actors with a count above zero, sorted.
func stillRunning(running map[string]int) string {
	var names []string
	for name, n := range running {
		if n > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
