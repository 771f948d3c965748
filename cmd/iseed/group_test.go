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
	}{
		{"all stop", []actor{polite, polite}, ""},
		{"one fails on stop", []actor{polite, {"failing", func(ctx context.Context) error { <-ctx.Done(); return errBoom }}}, "boom"},
		{"one outlives the bound", []actor{polite, {"stuck", func(context.Context) error { <-hung; return nil }}},
			"shutdown: stuck still running 300ms after the stop"},
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
		})
	}
}

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
