package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// stopAfterCompleted publishes events, and fails once right after the
// first completed event is out: the refresh stops before its record
// write, as one that crashed there would.
type stopAfterCompleted struct {
	tracking.Events
	stopped atomic.Bool
}

func (e *stopAfterCompleted) Status(ctx context.Context, s publisher.Status) error {
	if err := e.Events.Status(ctx, s); err != nil {
		return err
	}
	if s.State == publisher.StateCompleted && e.stopped.CompareAndSwap(false, true) {
		return errors.New("stopped after completed")
	}
	return nil
}

// gaveUpLetter returns the sequence of emp-race's gave_up dead letter.
func (g *giveUpRace) gaveUpLetter() uint64 {
	g.T.Helper()
	for _, dl := range g.DeadLetters() {
		if dl.Reason == dlq.ReasonGaveUp && dl.SubmissionID == raceID {
			return dl.Seq
		}
	}
	g.T.Fatalf("dead letters: got %+v, want emp-race's gave_up", g.DeadLetters())
	return 0
}

// TestACompletionAnnouncedBeforeAGiveUpIsAnnouncedAgainAfterAReplay: a
// refresh announced completed (its plain id) and stopped before its record
// write; tracking gave up, and an operator replays the give-up within the
// duplicate window. The reopened record's poll finds the request fulfilled:
// its completed event must not be dropped as a duplicate of the one out
// before failed, or the submission's last status event says failed under
// a completed record, for good.
func TestACompletionAnnouncedBeforeAGiveUpIsAnnouncedAgainAfterAReplay(t *testing.T) {
	ev := &stopAfterCompleted{}
	g := newGiveUpRace(t, nil, func(e tracking.Events) tracking.Events { ev.Events = e; return ev })
	g.callback()
	if code := <-g.answered; code != http.StatusServiceUnavailable {
		t.Fatalf("callback whose refresh stopped after completed: got %d, want 503", code)
	}
	stop := g.runTracker(g.tr)
	g.waitGaveUp(true)
	pipetest.WaitFor(t, 5*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	stop()
	// The replay goes to a tracker whose maximum age does not run out at
	// its first poll.
	g.tcfg = tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Hour}
	g.events = func(tracking.Events) tracking.Events { return ev }
	g.runTracker(g.newTracker(nil))
	seq := g.gaveUpLetter()
	if err := g.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the reopened request to be completed, its task acknowledged", func() bool {
		return g.Record(raceID).State == record.StateCompleted && g.openTasks() == 0
	})
	evs := g.Events(raceID)
	last := evs[len(evs)-1]
	if last.Type != publisher.StatusType(publisher.StateCompleted) {
		t.Fatalf("last event: got %s %s, want completed (events %v)", shortType(last.Type), last.ID, g.statusTypes())
	}
	if want := publisher.AfterReplayEventID(pipetest.Tenant, raceID, 1, publisher.StateCompleted, seq); last.ID != want {
		t.Errorf("last event's id: got %q, want %q", last.ID, want)
	}
}

// shiftedClock is a tracker's clock that the test moves forward.
type shiftedClock struct{ by atomic.Int64 }

func (c *shiftedClock) now() time.Time { return time.Now().Add(time.Duration(c.by.Load())) }

// TestAnOverrideAfterAReplayIsNotTheReopenedCompletion: after a replay
// reopened a give-up, a callback's refresh announces completed and loses
// its compare-and-set to a second give-up; it then overrides that give-up.
// Its completed comes after the second failed event and must have an id
// of its own: the reopened record's completed (….completed.r<seq>) is out
// already, before failed, and so may be the first give-up's override
// (….completed.overrides_gave_up), by a refresh that stopped before its
// record write.
func TestAnOverrideAfterAReplayIsNotTheReopenedCompletion(t *testing.T) {
	const id = "emp-reover"
	clock := &shiftedClock{}
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour}, callbacks: true,
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Hour, Now: clock.now}})
	// The polling tracker's upstream never fulfils the request: only the
	// callback's refresh (through another tracker) finds it fulfilled.
	polled := &movedOn{Upstream: h.Client}
	polled.moved.Store(true)
	h.upstream = polled
	tr := h.newTracker(nil)
	h.openTrackedRequest(tr, id)
	clock.by.Store(int64(2 * time.Hour)) // the first poll gives up
	h.runTracker(tr)
	pipetest.WaitFor(t, 10*time.Second, "tracking to give up, announced, its task acknowledged", func() bool {
		return h.Record(id).State == record.StateFailed && h.typeCounts(id)["iseed.submission.failed"] == 1 && h.openTasks() == 0
	})
	var seq uint64
	for _, dl := range h.DeadLetters() {
		seq = dl.Seq
	}
	if err := h.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the reopened request to be in progress", func() bool {
		r := h.Record(id)
		return r.State == record.StateInProgress && len(r.Replays) == 1
	})
	fulfilled := &movedOn{Upstream: h.Client}
	fulfilled.moved.Store(true)
	fulfilled.fulfilled.Store(true)
	h.upstream = fulfilled
	var ev *heldEvents
	h.events = func(e tracking.Events) tracking.Events { ev = newHeldEvents(e, record.StateCompleted, true); return ev }
	h.newTracker(nil) // callbacks refresh through it; it does not poll
	answered := make(chan int, 1)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(ev.open)
	wg.Go(func() { answered <- h.postCallback(id, h.callbacks.Secret(pipetest.Tenant, id)) })
	waitHeld(t, ev.held, "the callback's refresh to announce completed")
	clock.by.Store(int64(4 * time.Hour)) // the next poll gives up again
	pipetest.WaitFor(t, 10*time.Second, "tracking to give up again, announced", func() bool {
		return h.Record(id).State == record.StateFailed && h.typeCounts(id)["iseed.submission.failed"] == 2
	})
	ev.open()
	if code := <-answered; code != http.StatusNoContent {
		t.Fatalf("callback: got %d, want 204", code)
	}
	if r := h.Record(id); r.State != record.StateCompleted {
		t.Fatalf("record: got %s (%s), want completed", r.State, r.Reason)
	}
	evs := h.Events(id)
	if last, want := evs[len(evs)-1], publisher.OverrideEventID(pipetest.Tenant, id, 1, seq); last.ID != want {
		var got []string
		for _, ev := range evs {
			got = append(got, shortType(ev.Type)+" "+ev.ID)
		}
		t.Errorf("last event: got %s, want completed %s (events %v)", last.ID, want, got)
	}
}
