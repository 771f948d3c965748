package e2e_test

import (
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
)

// The give-up's failed event may be slower than the completion that
// overrides it (its tracker committed the record, then stalled): it is
// published before completed all the same, and only once.
func TestAGiveUpAnnouncedLateStillComesBeforeTheCompletion(t *testing.T) {
	var ev *heldEvents
	g, up := downloading(t, func(e tracking.Events) tracking.Events {
		ev = newHeldEvents(e, record.StateFailed, false)
		return ev
	})
	t.Cleanup(ev.open)
	g.runTracker(g.tr)
	g.waitGaveUp(false)
	waitHeld(t, ev.held, "the give-up's failed event")
	up.open()
	g.checkAnswered()
	ev.open()
	pipetest.WaitFor(t, 5*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	g.checkOverridden()
	want := []string{"failed", "in_progress", "data_ready", "document.ready", "completed"}
	if got := g.statusTypes(); !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
}
