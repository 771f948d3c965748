package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
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
// by), and runGroup returns an error naming it, an *abandonedError with
// where its goroutines were stuck.
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
			// Its goroutines, and those they start, carry its name: an
			// actor abandoned is found in the goroutine profile.
			pprof.Do(ctx, pprof.Labels(actorLabel, a.name), func(ctx context.Context) {
				err := a.run(ctx)
				cancel()
				results <- result{a.name, err}
			})
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
			names := stillRunning(running)
			return errors.Join(first, &abandonedError{names: names, within: stopWithin, stacks: stacksOf(names)})
		}
	}
	return first
}

// stillRunning lists the actors with a count above zero, sorted.
func stillRunning(running map[string]int) []string {
	var names []string
	for name, n := range running {
		if n > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// actorLabel is the profiler label naming the actor a goroutine works for.
const actorLabel = "actor"

// abandonedError names the actors still running stopWithin after the stop.
type abandonedError struct {
	names  []string
	within time.Duration
	// stacks is where their goroutines were: the goroutine profile's
	// entries labelled with their names (function names and lines, no
	// values), at most maxStacks bytes.
	stacks string
}

func (e *abandonedError) Error() string {
	return fmt.Sprintf("shutdown: %s still running %s after the stop: abandoned (their messages are redelivered after AckWait)",
		strings.Join(e.names, ", "), e.within)
}

// maxStacks bounds the stacks an abandonedError keeps for the log.
const maxStacks = 64 << 10

// stacksOf returns the goroutine profile's entries (goroutines with the
// same stack counted together) of the goroutines labelled with the actors
// names, at most maxStacks bytes.
func stacksOf(names []string) string {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return ""
	}
	labels := make([]string, len(names)) // as the profile writes them
	for i, name := range names {
		labels[i] = fmt.Sprintf("%q:%q", actorLabel, name)
	}
	var keep []string
	size := 0
	for entry := range strings.SplitSeq(buf.String(), "\n\n") {
		if !slices.ContainsFunc(labels, func(l string) bool { return strings.Contains(entry, l) }) {
			continue
		}
		if size+len(entry) > maxStacks {
			break
		}
		keep = append(keep, entry)
		size += len(entry)
	}
	return strings.Join(keep, "\n\n")
}
