package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// heldAnswers hands POST /richiesta's answers back only once release is
// closed: the upstream has made the request and calls back meanwhile.
type heldAnswers struct {
	consumer.Upstream
	release <-chan struct{}
}

func (h heldAnswers) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	r, err := h.Upstream.CreateRichiesta(ctx, req)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return r, err
}

// TestCallbackBeforeThePostsAnswer: the upstream calls back about a
// request (In lavorazione, Dati disponibili, Visura evasa) before iseed
// has the POST's answer, which comes back only once every news was
// posted (answered or refused). The answer is recorded as usual (no
// adoption, so no poll at once) and the first scheduled poll is an hour
// away: only the callbacks can bring the request on. Before, each was
// answered 204 (not_tracked) and forgotten, and the submission stayed
// submitted for the hour; now a callback for a request not tracked yet
// waits for its tracking to start, or asks to be retried.
func TestCallbackBeforeThePostsAnswer(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 100 * time.Millisecond}, callbacks: true,
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{time.Hour}}})
	release := make(chan struct{})
	h.submitter = heldAnswers{Upstream: h.Client, release: release}
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-early", pipetest.ValidFields("Mario")), nil)
	// The three news posted: each answered (200), or one held and the
	// others refused (503, retried).
	pipetest.WaitFor(t, 30*time.Second, "the upstream's callbacks before the POST's answer", func() bool {
		return h.Counter("callbacks") >= 3 || h.Counter("callback_failures") >= 2
	})
	close(release)
	var r *record.Record
	pipetest.WaitExplained(t, time.Minute, "the submission to complete on its callbacks", func() bool {
		r = h.Record("emp-early")
		return r != nil && r.State == record.StateCompleted && r.Document != nil
	}, func() string {
		return h.trackingState(r)
	})
	for _, tr := range r.Timeline {
		if tr.State == record.StateSubmitted && tr.Note != "" {
			t.Errorf("submitted transition noted %q: the POST's answer was to be recorded, not adopted", tr.Note)
		}
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta calls: %d, want 1", got)
	}
}
