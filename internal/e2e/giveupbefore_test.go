package e2e_test

import (
	"slices"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
)

// A refresh that announced completed before a give-up committed, and then
// lost its compare-and-set to it, overrides the give-up with a completed
// event of its own id: the plain one, out before failed, would deduplicate
// it, and the events would end with failed under a completed record.
func TestACompletionAnnouncedBeforeAGiveUpIsAnnouncedAgainAfterIt(t *testing.T) {
	var ev *heldEvents
	g := newGiveUpRace(t, nil, func(e tracking.Events) tracking.Events {
		ev = newHeldEvents(e, record.StateCompleted, true)
		return ev
	})
	g.callback(ev.open)
	waitHeld(t, ev.held, "the callback's refresh to announce completed")
	g.runTracker(g.tr) // it gives up on the record the refresh has not written yet
	g.waitGaveUp(true)
	ev.open()
	g.checkAnswered()
	g.checkOverridden()
	want := []string{"in_progress", "data_ready", "document.ready", "completed", "failed", "completed"}
	if got := g.statusTypes(); !slices.Equal(got, want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	evs := g.Events(raceID)
	if id, want := evs[len(evs)-1].ID, publisher.OverrideEventID(pipetest.Tenant, raceID, 1, 0); id != want {
		t.Errorf("the last completed event's id: got %q, want %q", id, want)
	}
}
