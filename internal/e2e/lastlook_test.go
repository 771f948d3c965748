package e2e_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// failingRichiesta fails the first fails reads of a request (all of them
// when fails is negative), then reads it from the upstream.
type failingRichiesta struct {
	tracking.Upstream
	fails atomic.Int32
	reads atomic.Int32
}

func (u *failingRichiesta) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	u.reads.Add(1)
	if n := u.fails.Load(); n != 0 {
		if n > 0 {
			u.fails.Add(-1)
		}
		return nil, errors.New("upstream unavailable")
	}
	return u.Upstream.Richiesta(ctx, id)
}

// lastLookHarness tracks emp-late, whose upstream request is fulfilled
// before tracking's first poll, and is past its maximum age by then (a
// millisecond): that poll is the one that gives up. No callbacks come.
func lastLookHarness(t *testing.T, grace time.Duration, fails int32) (*trackHarness, *failingRichiesta) {
	t.Helper()
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond},
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Millisecond, LastLookGrace: grace}})
	up := &failingRichiesta{Upstream: h.Client}
	up.fails.Store(fails)
	h.upstream = up
	tr := h.newTracker(nil)
	reqID := h.openTrackedRequest(tr, "emp-late")
	pipetest.WaitFor(t, 10*time.Second, "the upstream request to be fulfilled", func() bool {
		r, err := h.Client.Richiesta(context.Background(), reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	h.runTracker(tr)
	return h, up
}

// TestALastLookCompletesARequestFulfilledSinceTheLastPoll: tracking that
// reaches its maximum age reads the request once more before it gives
// up. One the upstream fulfilled since the last poll (a working day
// before, callbacks lost or off) was given up unread: failed, a gave_up
// dead letter, and a tenant told so who might send it again and pay
// twice. It completes with its final document instead; the same when the
// upstream fails the first reads of that look, within the grace.
func TestALastLookCompletesARequestFulfilledSinceTheLastPoll(t *testing.T) {
	for _, fails := range []int32{0, 2} {
		t.Run(map[int32]string{0: "answered", 2: "after two failed reads"}[fails], func(t *testing.T) {
			h, up := lastLookHarness(t, time.Minute, fails)
			const id = "emp-late"
			pipetest.WaitExplained(t, 10*time.Second, "tracking to complete emp-late, its task acknowledged", func() bool {
				r := h.Record(id)
				return r.State == record.StateCompleted && r.Document != nil && h.openTasks() == 0
			}, func() string { r := h.Record(id); return "record " + r.State + " " + r.Reason })
			if got := h.typeCounts(id)["iseed.submission.failed"]; got != 0 {
				t.Errorf("failed events: %d; want none", got)
			}
			for _, dl := range h.DeadLetters() {
				if dl.SubmissionID == id {
					t.Errorf("dead letter %+v; want none", dl)
				}
			}
			if got := up.reads.Load(); got < fails+1 {
				t.Errorf("reads of the request: %d; want at least %d", got, fails+1)
			}
		})
	}
}

// TestALastLookThatKeepsFailingGivesUpAfterTheGrace: an upstream that
// does not answer the last look is asked again at the retry delay, and
// tracking gives up once the grace past the maximum age is over, as it
// did before it took a last look: never polled for ever.
func TestALastLookThatKeepsFailingGivesUpAfterTheGrace(t *testing.T) {
	h, up := lastLookHarness(t, 300*time.Millisecond, -1)
	const id = "emp-late"
	pipetest.WaitFor(t, 10*time.Second, "tracking to give up on emp-late, its task acknowledged", func() bool {
		r := h.Record(id)
		return r.State == record.StateFailed && r.Reason == dlq.ReasonGaveUp &&
			h.typeCounts(id)["iseed.submission.failed"] == 1 && h.openTasks() == 0
	})
	if got := up.reads.Load(); got < 2 {
		t.Errorf("reads of the request: %d; want the last look tried again within the grace", got)
	}
}
