package e2e_test

import (
	"context"
	"errors"
	"fmt"
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

// TestAReplayThatReopensTrackingAnnouncesIt: replaying a gave_up dead
// letter reopens tracking in the same generation, in the state tracked
// before the give-up, whose event is out with its plain id. The reopen
// announces that state again with the replay's id: without it, the
// submission's last status event says failed while its record is open
// again, until the upstream moves on (here it does not).
func TestAReplayThatReopensTrackingAnnouncesIt(t *testing.T) {
	const id = "emp-reopen"
	h, _, replayed := replayedWith(t, id, nil)
	waitReopenAnnounced(t, h, id, replayed)
}

// replayedWith gives submission id up in submitted (its upstream request
// In ricerca until moved on), then replays its gave_up dead letter to a
// tracker that neither gives it up again nor finds it overdue, whose
// events ev wraps (nil: none); it returns the harness, the upstream and
// the letter's sequence.
func replayedWith(t *testing.T, id string, ev func(tracking.Events) tracking.Events) (*trackHarness, *movedOn, uint64) {
	t.Helper()
	up := &movedOn{}
	h, replayed := givenUpThrough(t, id, func(h *trackHarness) { up.Upstream, h.upstream = h.Client, up })
	h.stop()
	h.tcfg.MaxAge, h.tcfg.OverdueWorkdays = onDayIn200ms(time.Hour), 1000 // no give-up again, no overdue event
	h.events = ev
	h.runTracker(h.newTracker(nil))
	if err := h.Queue().Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	return h, up, replayed
}

// waitReopenAnnounced waits until submission id is reopened in submitted
// by the replay of letter replayed, and its last event says so.
func waitReopenAnnounced(t *testing.T, h *trackHarness, id string, replayed uint64) {
	t.Helper()
	want := publisher.StatusAfterReplayEventID(pipetest.Tenant, id, 1, publisher.StateSubmitted, replayed)
	pipetest.WaitExplained(t, 10*time.Second, "the reopened state to be the last event", func() bool {
		r := h.Record(id)
		return r.State == record.StateSubmitted && len(r.Replays) == 1 && lastEventID(h.Events(id)) == want
	}, func() string {
		r := h.Record(id)
		return fmt.Sprintf("record %s, replays %v; events %v, want the last %s", r.State, r.Replays, eventIDs(h.Events(id)), want)
	})
}

// TestAReopenAnnouncedLateStillComesBeforeTheNextState: a reopen writes
// the record before it announces it. A callback's refresh that finds the
// record reopened, and the request moved on, announces the reopened state
// first (deduplicated by id), so that the reopen's own event, late, never
// comes after the state the request moved on to: the submission's last
// status event would go back to the state it left.
func TestAReopenAnnouncedLateStillComesBeforeTheNextState(t *testing.T) {
	const id = "emp-reopen-late"
	ev := newHeldEvents(nil, record.StateSubmitted, false)
	t.Cleanup(ev.open)
	h, up, replayed := replayedWith(t, id, func(e tracking.Events) tracking.Events { ev.Events = e; return ev })
	waitHeld(t, ev.held, "the reopen's event")
	h.serveCallbacks(0)
	up.moved.Store(true)
	if code := h.postCallback(id, h.callbacks.Secret(pipetest.Tenant, id)); code != http.StatusOK {
		t.Fatalf("callback: got %d, want 200", code)
	}
	if r := h.Record(id); r.State != record.StateInProgress {
		t.Fatalf("record after the callback: got %s, want in_progress", r.State)
	}
	gets := h.Counter("GET /richiesta/{id}")
	ev.open()
	// The reopen's poll reads the request once its event is out.
	pipetest.WaitFor(t, 10*time.Second, "the reopen's poll to read the request", func() bool { return h.Counter("GET /richiesta/{id}") > gets })
	evs := h.Events(id)
	if got, want := lastEventID(evs), publisher.StatusAfterReplayEventID(pipetest.Tenant, id, 1, publisher.StateInProgress, replayed); got != want {
		t.Errorf("the last event: got %s, want %s; events %v", got, want, eventIDs(evs))
	}
}

// TestAReopenWhoseEventFailedIsAnnouncedAtTheNextPoll: the reopen writes
// the record, then its event fails; the replayed task's next poll, the
// upstream having nothing new, announces it, or the submission's last
// status event would say failed under an open record until the upstream
// moves on.
func TestAReopenWhoseEventFailedIsAnnouncedAtTheNextPoll(t *testing.T) {
	const id = "emp-reopen-retry"
	h, _, replayed := replayedWith(t, id, func(e tracking.Events) tracking.Events {
		return &failFirstAfterReplay{Events: e, state: publisher.StateSubmitted}
	})
	waitReopenAnnounced(t, h, id, replayed)
}

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
