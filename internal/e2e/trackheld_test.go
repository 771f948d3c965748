package e2e_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/iseed-dev/iseed/workpool"
)

// heldBudget keeps the first Wait for hold, as the deployment-wide budget
// does for polls while submissions take every token, and notes how many
// Waits had begun when it let the first go.
type heldBudget struct {
	hold   time.Duration
	waits  atomic.Int32
	during atomic.Int32
}

func (b *heldBudget) Wait(ctx context.Context) error {
	if b.waits.Add(1) > 1 {
		return nil
	}
	t := time.NewTimer(b.hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.during.Store(b.waits.Load())
	return nil
}

// TestPollHeldByTheBudgetKeepsItsTask: a poll that waits longer than the
// AckWait for the upstream budget keeps its task; it is not delivered to
// another worker (another replica) that polls the same request meanwhile.
func TestPollHeldByTheBudgetKeepsItsTask(t *testing.T) {
	l := pipetest.DefaultLayout()
	l.TrackAckWait = time.Second
	h := &trackHarness{harness: &harness{pipetest.NewWithLayout(t, sim.Config{Step: time.Hour}, 5*time.Second, l)},
		tcfg: tracking.Config{Workers: 2, Schedule: []time.Duration{50 * time.Millisecond}}}
	h.schemas = h.Schemas()
	budget := &heldBudget{hold: 3 * l.TrackAckWait}
	h.polls = budget
	tr := h.newTracker(nil)
	h.openTrackedRequest(tr, "emp-held")
	h.runTracker(tr)
	pipetest.WaitFor(t, 10*time.Second, "the held poll to get its token", func() bool { return budget.during.Load() > 0 })
	if got := budget.during.Load(); got != 1 {
		t.Errorf("polls of the request begun while one waited %s for the budget (AckWait %s): got %d, want 1",
			budget.hold, l.TrackAckWait, got)
	}
}

// TestPollKeepsItsTaskByTheConsumersShorterAckWait: every replica makes
// the tracking consumer with its own ISEED_TRACK_ACK_WAIT, so in a rolling
// restart that shortens it the newest replica's holds. An older replica,
// configured with a longer one, must keep its tasks in progress by the
// consumer's: otherwise a poll held longer than the consumer's AckWait
// loses its task to another worker, and the request is polled twice at
// once.
func TestPollKeepsItsTaskByTheConsumersShorterAckWait(t *testing.T) {
	l := pipetest.DefaultLayout()
	l.TrackAckWait = 6 * time.Second // this (older) replica's
	h := &trackHarness{harness: &harness{pipetest.NewWithLayout(t, sim.Config{Step: time.Hour}, 5*time.Second, l)},
		tcfg: tracking.Config{Workers: 2, Schedule: []time.Duration{50 * time.Millisecond}}}
	h.schemas = h.Schemas()
	// A newer replica, configured with a shorter AckWait, updates the
	// consumer.
	const newer = workpool.MinAckWait // the shortest a configuration accepts
	ctx := context.Background()
	cfg := h.Res.Tracker.CachedInfo().Config
	cfg.AckWait = newer
	if _, err := h.NATS.JS.UpdateConsumer(ctx, h.Res.Layout.TrackStream(), cfg); err != nil {
		t.Fatal(err)
	}
	budget := &heldBudget{hold: 3 * newer}
	h.polls = budget
	tr := h.newTracker(nil)
	h.openTrackedRequest(tr, "emp-held")
	h.runTracker(tr)
	pipetest.WaitFor(t, 10*time.Second, "the held poll to get its token", func() bool { return budget.during.Load() > 0 })
	if got := budget.during.Load(); got != 1 {
		t.Errorf("polls of the request begun while one waited %s for the budget (the consumer's AckWait %s, this replica's %s): got %d, want 1",
			budget.hold, newer, l.TrackAckWait, got)
	}
}
