package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
)

// failAfter publishes events, and fails once right after the first
// status event of state is out: what published it stops there, as a
// refresh that crashed there would.
type failAfter struct {
	tracking.Events
	state  string
	failed atomic.Bool
}

func (e *failAfter) Status(ctx context.Context, s publisher.Status) error {
	if err := e.Events.Status(ctx, s); err != nil {
		return err
	}
	if s.State == e.state && e.failed.CompareAndSwap(false, true) {
		return errors.New("stopped after " + e.state)
	}
	return nil
}

// TestACompletionAnnouncedBeforeAGiveUpIsAnnouncedAgainAfterAReplay: a
// refresh announced completed (the plain id), then stopped before its
// record write while tracking gave up, whose failed event came after it.
// An operator replays the give-up's dead letter before any callback
// repairs it: the reopened tracking finds the request completed, and
// announces completed with the replay's id. With the plain one, it would
// be deduplicated away, and the submission's last status event would say
// failed under a completed record for good.
func TestACompletionAnnouncedBeforeAGiveUpIsAnnouncedAgainAfterAReplay(t *testing.T) {
	var ev *heldEvents
	g := newGiveUpRace(t, nil, func(e tracking.Events) tracking.Events {
		ev = newHeldEvents(e, record.StateCompleted, true)
		return &failAfter{Events: ev, state: record.StateCompleted}
	})
	g.callback(ev.open)
	waitHeld(t, ev.held, "the callback's refresh to announce completed")
	stop := g.runTracker(g.tr) // it gives up on the record the refresh has not written yet
	g.waitGaveUp(true)
	ev.open()
	if code := <-g.answered; code != http.StatusServiceUnavailable {
		t.Fatalf("callback whose refresh stopped: got %d, want 503", code)
	}
	pipetest.WaitFor(t, 5*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	var seq uint64
	for _, dl := range g.DeadLetters() {
		if dl.Reason == dlq.ReasonGaveUp && dl.SubmissionID == raceID {
			seq = dl.Seq
		}
	}
	if seq == 0 {
		t.Fatalf("dead letters: got %+v, want emp-race's gave_up", g.DeadLetters())
	}
	stop()
	g.tcfg = tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Hour}
	g.runTracker(g.newTracker(nil))
	if err := g.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the replayed task to be acknowledged", func() bool { return g.openTasks() == 0 })
	if r := g.Record(raceID); r.State != record.StateCompleted {
		t.Fatalf("record: got %s (%s), want completed", r.State, r.Reason)
	}
	evs := g.Events(raceID)
	if got, want := lastEventID(evs), publisher.StatusAfterReplayEventID(pipetest.Tenant, raceID, 1, publisher.StateCompleted, seq); got != want {
		t.Errorf("the last event: got %s, want %s; events %v", got, want, eventIDs(evs))
	}
}

// lastEventID is the id of the last of evs ("" when none).
func lastEventID(evs []publisher.Event) string {
	if len(evs) == 0 {
		return ""
	}
	return evs[len(evs)-1].ID
}

// eventIDs lists evs by type and id, for a failure message.
func eventIDs(evs []publisher.Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, shortType(ev.Type)+" "+ev.ID)
	}
	return strings.Join(out, ", ")
}
