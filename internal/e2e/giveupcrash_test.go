package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// failAfterOverride publishes events, and fails once right after the
// completed event of an override is out: the refresh stops before its
// record write, as one that crashed there would.
type failAfterOverride struct {
	tracking.Events
	failed atomic.Bool
}

func (e *failAfterOverride) Status(ctx context.Context, s publisher.Status) error {
	if err := e.Events.Status(ctx, s); err != nil {
		return err
	}
	if s.EventID == publisher.OverrideEventID(s.Tenant, s.SubmissionID, s.Generation, 0) && e.failed.CompareAndSwap(false, true) {
		return errors.New("stopped after the override's completed event")
	}
	return nil
}

// An override of a give-up that published its completed event and
// stopped before its record write left the record failed (gave_up) under
// a last event completed; the give-up's task is acked, so only the
// upstream's retry of its callback (answered 503) can repair it: the
// refresh it triggers overrides the give-up again, its events
// deduplicated, and the record ends completed, as the events say.
func TestAnOverrideStoppedBeforeItsRecordWriteIsRepairedByACallback(t *testing.T) {
	var ev *failAfterOverride
	g, up := downloading(t, func(e tracking.Events) tracking.Events {
		ev = &failAfterOverride{Events: e}
		return ev
	})
	g.runTracker(g.tr)
	g.waitGaveUp(true)
	up.open()
	if code := <-g.answered; code != http.StatusServiceUnavailable {
		t.Fatalf("callback whose override stopped: got %d, want 503", code)
	}
	if r := g.Record(raceID); r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp {
		t.Fatalf("record after the override stopped: got %s (%s), want failed (gave_up), not written", r.State, r.Reason)
	}
	evs := g.Events(raceID)
	if id, want := evs[len(evs)-1].ID, publisher.OverrideEventID(pipetest.Tenant, raceID, 1, 0); id != want {
		t.Fatalf("last event after the override stopped: got %q, want %q", id, want)
	}
	pipetest.WaitFor(t, 5*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	// The upstream retries the callback; a fresh endpoint (a restarted
	// replica's) lets it through at once.
	g.serveCallbacks(0)
	if code := g.postCallback(raceID, g.callbacks.Secret(pipetest.Tenant, raceID)); code != http.StatusOK {
		t.Fatalf("the callback's retry: got %d, want 200", code)
	}
	g.checkOverridden()
	want := []string{"failed", "in_progress", "data_ready", "document.ready", "completed"}
	if got := g.statusTypes(); !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
}

// A callback for a request tracking gave up on, which the upstream has not
// fulfilled, re-reads the request and changes nothing: the record keeps
// its revision, and no event is published.
func TestACallbackForAGiveUpNotFulfilledChangesNothing(t *testing.T) {
	const id = "emp-gone"
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour}, callbacks: true,
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Millisecond}})
	tr := h.newTracker(nil)
	h.openTrackedRequest(tr, id)
	h.runTracker(tr)
	pipetest.WaitFor(t, 10*time.Second, "tracking to give up, announced, its task acknowledged", func() bool {
		r := h.Record(id)
		return r.State == record.StateFailed && r.Reason == dlq.ReasonGaveUp &&
			h.typeCounts(id)["iseed.submission.failed"] == 1 && h.openTasks() == 0
	})
	ctx := context.Background()
	store := record.NewStore(h.Res.Records)
	_, rev, err := store.Get(ctx, pipetest.Tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	events, gets := len(h.Events(id)), h.Counter("GET /richiesta/{id}")
	if code := h.postCallbackState(id, h.callbacks.Secret(pipetest.Tenant, id), visengine.StateInProgress); code != http.StatusOK {
		t.Fatalf("callback: got %d, want 200", code)
	}
	if got := h.Counter("GET /richiesta/{id}"); got != gets+1 {
		t.Errorf("upstream reads: got %d, want %d (the callback's)", got, gets+1)
	}
	if r, now, _ := store.Get(ctx, pipetest.Tenant, id); now != rev || r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp {
		t.Errorf("record: got %s (%s) at revision %d, want failed (gave_up) at %d (unchanged)", r.State, r.Reason, now, rev)
	}
	if got := len(h.Events(id)); got != events {
		t.Errorf("events: got %d, want %d (none more)", got, events)
	}
}
