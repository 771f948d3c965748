package e2e_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// panicOnce is a poll budget whose first Wait panics (a bug somewhere in
// a poll); later Waits are granted at once.
type panicOnce struct{ waits atomic.Int64 }

func (p *panicOnce) Wait(context.Context) error {
	if p.waits.Add(1) == 1 {
		panic("a bug in a poll")
	}
	return nil
}

// TestTrackPanicInAPollLetsTheTaskComeBack: a poll that panics (the pool
// survives it) must not leave its task marked in progress for ever, as
// it would if the InProgress the poll sends while it waits went on after
// it: the task must come back after the tracker's AckWait and its request
// be tracked to the end.
func TestTrackPanicInAPollLetsTheTaskComeBack(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	polls := &panicOnce{}
	h.polls = polls
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-panic", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 20*time.Second, "a poll to panic", func() bool { return polls.waits.Load() > 0 })
	r := h.waitClosed("emp-panic", 20*time.Second)
	if r.State != record.StateCompleted {
		t.Fatalf("state: got %q, want %q", r.State, record.StateCompleted)
	}
}
