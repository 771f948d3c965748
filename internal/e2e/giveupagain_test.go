package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
)

// movedOn reports the request In ricerca until moved, then as the
// upstream says (In erogazione: the simulator's requests stay there for
// an hour), and Visura evasa, with a document, once fulfilled.
type movedOn struct {
	tracking.Upstream
	moved, fulfilled atomic.Bool
}

func (u *movedOn) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	r, err := u.Upstream.Richiesta(ctx, id)
	switch {
	case err != nil:
	case !u.moved.Load():
		r.StatoRichiesta, r.TimestampStati = visengine.StateSearching, visengine.TimestampStati{InRicerca: r.TimestampStati.InRicerca}
	case u.fulfilled.Load():
		r.StatoRichiesta = visengine.StateFulfilled
	}
	return r, err
}

func (u *movedOn) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	if !u.fulfilled.Load() {
		return u.Upstream.Documento(ctx, id, w)
	}
	n, err := io.WriteString(w, "the ISEE of "+id)
	return &visengine.Document{Nome: id + ".pdf", Dimensione: int64(n), Written: int64(n)}, err
}

// heldGiveUpAfterReplay publishes events, holding the first failed event
// with an id of its own (a give-up after a replay) until released.
type heldGiveUpAfterReplay struct {
	tracking.Events
	held, release chan struct{}
	once          sync.Once
}

func (e *heldGiveUpAfterReplay) Status(ctx context.Context, s publisher.Status) error {
	hold := false
	if s.State == publisher.StateFailed && s.EventID != "" {
		e.once.Do(func() { hold = true })
	}
	if hold {
		close(e.held)
		select {
		case <-e.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return e.Events.Status(ctx, s)
}

// TestTrackGaveUpAgainAfterAReplayIsAnnounced: a replayed gave_up task
// reopens tracking in the same generation, announces the state it reopens
// in and then, at its poll, the state the request moved on to, each with
// the replay's id; when tracking gives up again, its failed event must not
// be dropped as a duplicate of the first give-up's, or the submission's
// last status event says in_progress under a failed record.
func TestTrackGaveUpAgainAfterAReplayIsAnnounced(t *testing.T) {
	const id = "emp-again"
	up := &movedOn{}
	h, replayed := givenUpThrough(t, id, func(h *trackHarness) { up.Upstream, h.upstream = h.Client, up })
	up.moved.Store(true)
	if err := h.Queue().Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "tracking reopened and given up again", func() bool {
		r := h.Record(id)
		return r.State == record.StateFailed && len(r.Replays) == 1 && h.openTasks() == 0
	}, func() string { return fmt.Sprintf("record %+v, %d tasks open", h.Record(id), h.openTasks()) })
	var got []string
	for _, ev := range h.Events(id) {
		got = append(got, shortType(ev.Type)+" "+ev.ID)
	}
	first, again := publisher.StatusEventID(pipetest.Tenant, id, 1, publisher.StateFailed),
		publisher.GiveUpAfterReplayEventID(pipetest.Tenant, id, 1, replayed)
	want := []string{"submitted " + publisher.StatusEventID(pipetest.Tenant, id, 1, publisher.StateSubmitted),
		"failed " + first,
		"submitted " + publisher.StatusAfterReplayEventID(pipetest.Tenant, id, 1, publisher.StateSubmitted, replayed),
		"in_progress " + publisher.StatusAfterReplayEventID(pipetest.Tenant, id, 1, publisher.StateInProgress, replayed),
		"failed " + again}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
}

// TestAnOverrideOfAGiveUpAfterAReplayComesAfterItsFailedEvent: a callback
// that finds the upstream fulfilled overrides a give-up after a replay
// whose tracker committed the record and has not announced it yet. The
// override publishes the give-up's failed event first, with the give-up's
// own id: with any other, the tracker's would come after completed, and
// the submission's last status event would say failed under a completed
// record.
func TestAnOverrideOfAGiveUpAfterAReplayComesAfterItsFailedEvent(t *testing.T) {
	const id = "emp-late"
	up := &movedOn{}
	ev := &heldGiveUpAfterReplay{held: make(chan struct{}), release: make(chan struct{})}
	h, replayed := givenUpThrough(t, id, func(h *trackHarness) {
		up.Upstream, h.upstream = h.Client, up
		h.events = func(e tracking.Events) tracking.Events { ev.Events = e; return ev }
	})
	var release sync.Once
	open := func() { release.Do(func() { close(ev.release) }) }
	t.Cleanup(open)
	up.moved.Store(true)
	if err := h.Queue().Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, ev.held, "the failed event of the give-up after the replay")
	up.fulfilled.Store(true)
	h.serveCallbacks(0)
	if code := h.postCallback(id, h.callbacks.Secret(pipetest.Tenant, id)); code != http.StatusOK {
		t.Fatalf("callback: got %d, want 200", code)
	}
	open()
	pipetest.WaitFor(t, 10*time.Second, "the give-up's task to be acknowledged", func() bool { return h.openTasks() == 0 })
	if r := h.Record(id); r.State != record.StateCompleted {
		t.Fatalf("record: got %s (%s), want completed", r.State, r.Reason)
	}
	var got []string
	for _, ev := range h.Events(id) {
		got = append(got, shortType(ev.Type)+" "+ev.ID)
	}
	failed := publisher.GiveUpAfterReplayEventID(pipetest.Tenant, id, 1, replayed)
	if n := len(got); n < 3 || got[n-3] != "failed "+failed || got[n-1] != "completed "+publisher.OverrideEventID(pipetest.Tenant, id, 1, replayed) {
		t.Errorf("events: got %v, want them to end with failed %s, document.ready, completed (the override's)", got, failed)
	}
}

// failFirstAfterReplay publishes events, and fails the first event of
// state with an id of its own (after a replay) without publishing it, as
// a publish that timed out would.
type failFirstAfterReplay struct {
	tracking.Events
	state  string
	failed atomic.Bool
}

func (e *failFirstAfterReplay) Status(ctx context.Context, s publisher.Status) error {
	if s.State == e.state && s.EventID != "" && e.failed.CompareAndSwap(false, true) {
		return errors.New("the " + e.state + " event after the replay was not published")
	}
	return e.Events.Status(ctx, s)
}

// TestTrackGaveUpAgainAfterAReplayIsAnnouncedWhenItsFirstTryFails: the
// replayed task that reopened tracking gives up again, and its failed
// event fails; the task comes back, still the replay of the letter that
// reopened the record, and must announce the give-up again, as an
// ordinary task does: acknowledged without it, the submission's last
// status event says the request is open under a failed record.
func TestTrackGaveUpAgainAfterAReplayIsAnnouncedWhenItsFirstTryFails(t *testing.T) {
	const id = "emp-again-retry"
	h, replayed := givenUpThrough(t, id, func(h *trackHarness) {
		h.events = func(e tracking.Events) tracking.Events {
			return &failFirstAfterReplay{Events: e, state: publisher.StateFailed}
		}
	})
	if err := h.Queue().Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "tracking reopened and given up again", func() bool {
		r := h.Record(id)
		return r.State == record.StateFailed && len(r.Replays) == 1 && h.openTasks() == 0
	}, func() string { return fmt.Sprintf("record %+v, %d tasks open", h.Record(id), h.openTasks()) })
	evs := h.Events(id)
	if got, want := lastEventID(evs), publisher.GiveUpAfterReplayEventID(pipetest.Tenant, id, 1, replayed); got != want {
		t.Errorf("the last event: got %s, want %s; events %v", got, want, eventIDs(evs))
	}
}
