package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// slowFailedEvent holds up the first failed event of one submission's
// first generation until proceed is closed: a slow publication.
type slowFailedEvent struct {
	consumer.Events
	id               string
	entered, proceed chan struct{}
	once             sync.Once
}

func (s *slowFailedEvent) Status(ctx context.Context, st publisher.Status) error {
	if st.SubmissionID == s.id && st.State == publisher.StateFailed && st.Generation == 1 {
		s.once.Do(func() {
			close(s.entered)
			select {
			case <-s.proceed:
			case <-time.After(30 * time.Second):
			}
		})
	}
	return s.Events.Status(ctx, st)
}

// TestEndedHoldReplayedWhileAnnouncedKeepsItsKey: a pass announces a
// held submission that was failed expired (its dead letter, then its
// failed event, then its key removed), and the operator replays that dead
// letter meanwhile: the replay is held again, in its place, which is the
// same key. The pass then removed that key whatever it held now: the
// replayed submission stayed held with no key, never released nor
// expired. A key is removed only as it was read.
func TestEndedHoldReplayedWhileAnnouncedKeepsItsKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	ev := &slowFailedEvent{id: "emp-x", entered: make(chan struct{}), proceed: make(chan struct{})}
	defer func() {
		select {
		case <-ev.proceed:
		default:
			close(ev.proceed)
		}
	}()
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
		d.Budget, d.Ledger = b, h.ledger()
		ev.Events, d.Events = d.Events, ev
	}), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-x", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-x", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })

	// Failed expired with its key still there, as a release's delivery
	// leaves it for a pass to announce.
	failHeldByHand(t, h, "emp-x", dlq.ReasonExpired, "held past the maximum age of 72h0m0s")
	select {
	case <-ev.entered: // the pass stored the dead letter, and publishes the failed event
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a pass to announce emp-x")
	}
	replayHeldAgain(t, h, "emp-x")
	close(ev.proceed)
	pipetest.WaitFor(t, 10*time.Second, "the failed event", func() bool { return len(h.Events("emp-x")) >= 3 })

	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	var r *record.Record
	pipetest.WaitExplained(t, 10*time.Second, "the replayed emp-x to be released and submitted", func() bool {
		r = h.Record("emp-x")
		return r.State == record.StateSubmitted
	}, func() string {
		keys, err := h.holdKeys()
		return fmt.Sprintf("emp-x is %s (generation %d); hold keys %v (%v)", r.State, r.Generation, keys, err)
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
