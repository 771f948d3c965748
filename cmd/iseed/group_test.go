package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRunGroupStopsWithinItsBound stops groups by cancelling their
// context: what stops in time returns the first error as before; an actor
// that outlives the bound is abandoned and named, and runGroup returns
// within the bound however long that actor runs (the exit of iseed serve
// rests on it).
func TestRunGroupStopsWithinItsBound(t *testing.T) {
	const stopWithin = 300 * time.Millisecond
	const slack = 2 * time.Second // scheduling, generous: the promise is stopWithin
	errBoom := errors.New("boom")
	hung := make(chan struct{}) // an actor ignoring its context, as a handler stuck past its cancellation
	t.Cleanup(func() { close(hung) })
	polite := actor{"polite", func(ctx context.Context) error { <-ctx.Done(); return nil }}
	tests := []struct {
		name    string
		actors  []actor
		wantErr string // "" for nil
		stuck   bool   // the error says where the stuck actor's goroutines are
	}{
		{"all stop", []actor{polite, polite}, "", false},
		{"one fails on stop", []actor{polite, {"failing", func(ctx context.Context) error { <-ctx.Done(); return errBoom }}}, "boom", false},
		{"one outlives the bound", []actor{polite, {"stuck", func(context.Context) error {
			go stuckHelper(hung) // started by the actor: its goroutine too
			<-hung
			return nil
		}}}, "shutdown: stuck still running 300ms after the stop", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- runGroup(ctx, stopWithin, tt.actors...) }()
			start := time.Now()
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("runGroup still running 10 s after the stop, want within %s", stopWithin)
			}
			if got := time.Since(start); got > stopWithin+slack {
				t.Errorf("runGroup returned %s after the stop, want within %s + %s", got.Round(time.Millisecond), stopWithin, slack)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err: got %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err: got %v, want one containing %q", err, tt.wantErr)
			}
			var ab *abandonedError
			if !tt.stuck {
				if errors.As(err, &ab) {
					t.Errorf("err %v is an abandonedError, want none abandoned", err)
				}
				return
			}
			if !errors.As(err, &ab) {
				t.Fatalf("err %v: want an abandonedError", err)
			}
			// The stuck actor's two goroutines, by their functions; not the
			// polite one's, which has returned, nor this test's.
			for _, want := range []string{`"actor":"stuck"`, "TestRunGroupStopsWithinItsBound.func", "stuckHelper"} {
				if !strings.Contains(ab.stacks, want) {
					t.Errorf("the abandoned actor's stacks lack %s:\n%s", want, ab.stacks)
				}
			}
			if strings.Contains(ab.stacks, `"actor":"polite"`) || strings.Contains(ab.stacks, "tRunner") {
				t.Errorf("the abandoned actor's stacks show other goroutines:\n%s", ab.stacks)
			}
		})
	}
}

// stuckHelper waits as its actor does.
func stuckHelper(hung <-chan struct{}) { <-hung }

// TestEvery: the periodic actors' loop calls its function each interval,
// not at once, and ends with nil when stopped.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 10)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- every(ctx, 20*time.Millisecond, func() { calls <- struct{}{} }) }()
	for range 3 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatal("fn was not called each interval")
		}
	}
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("three calls after %s: want one per 20ms interval, the first after one", took)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("every after the stop: %v; want nil", err)
	}
}
