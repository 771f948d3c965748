package e2e_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
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
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// heldDocument holds every document download until released.
type heldDocument struct {
	tracking.Upstream
	started atomic.Int32
	release chan struct{}
	once    sync.Once
}

// open releases the downloads held and to come.
func (u *heldDocument) open() { u.once.Do(func() { close(u.release) }) }

func (u *heldDocument) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	u.started.Add(1)
	select {
	case <-u.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return u.Upstream.Documento(ctx, id, w)
}

// heldEvents publishes events, holding the first status event of state
// until released: before it is published, or, with after, once it is.
type heldEvents struct {
	tracking.Events
	state   string
	after   bool
	held    chan struct{} // closed when holding
	release chan struct{}
	once    sync.Once
	opened  sync.Once
}

// open releases the event held, or the one to come.
func (e *heldEvents) open() { e.opened.Do(func() { close(e.release) }) }

func newHeldEvents(ev tracking.Events, state string, after bool) *heldEvents {
	return &heldEvents{Events: ev, state: state, after: after, held: make(chan struct{}), release: make(chan struct{})}
}

func (e *heldEvents) Status(ctx context.Context, s publisher.Status) error {
	hold := false
	if s.State == e.state {
		e.once.Do(func() { hold = true })
	}
	if hold && !e.after {
		if err := e.wait(ctx); err != nil {
			return err
		}
	}
	err := e.Events.Status(ctx, s)
	if hold && e.after {
		err = errors.Join(err, e.wait(ctx))
	}
	return err
}

func (e *heldEvents) wait(ctx context.Context) error {
	close(e.held)
	select {
	case <-e.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// giveUpRace is a tracker that serves callbacks at once and, once it runs,
// gives up on every request at its first poll (its maximum age is a
// millisecond, and it takes no last look), with a fulfilled upstream
// request emp-race it tracks.
type giveUpRace struct {
	*trackHarness
	tr       *tracking.Tracker
	logs     *pipetest.Buffer
	answered chan int // the callback's answer
	wg       sync.WaitGroup
}

const raceID = "emp-race"

func newGiveUpRace(t *testing.T, up tracking.Upstream, ev func(tracking.Events) tracking.Events) *giveUpRace {
	t.Helper()
	return newGiveUpRaceWith(t, up, raceDeps{events: ev})
}

// raceDeps wraps what the tracker of a giveUpRace uses; nil fields leave
// it as it is.
type raceDeps struct {
	events func(tracking.Events) tracking.Events
	js     func(jetstream.JetStream) jetstream.JetStream // its JetStream handle: tasks and dead letters
	dlq    func(jetstream.Stream) jetstream.Stream       // the DLQ stream it withdraws dead letters from
}

// newGiveUpRaceWith is newGiveUpRace with the tracker's dependencies
// wrapped as wrap says.
func newGiveUpRaceWith(t *testing.T, up tracking.Upstream, wrap raceDeps) *giveUpRace {
	t.Helper()
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond}, callbacks: true})
	g := &giveUpRace{trackHarness: h, logs: &pipetest.Buffer{}, answered: make(chan int, 1)}
	if up == nil {
		up = h.Client
	}
	var events tracking.Events = publisher.New(h.NATS.JS, publisher.Config{})
	if wrap.events != nil {
		events = wrap.events(events)
	}
	var js jetstream.JetStream = h.NATS.JS
	if wrap.js != nil {
		js = wrap.js(js)
	}
	res := h.Res
	if wrap.dlq != nil {
		copied := *h.Res
		copied.DLQ = wrap.dlq(h.Res.DLQ)
		res = &copied
	}
	// No last look before the give-up: it would find emp-race fulfilled
	// and complete it. These tests are of a completion that comes while
	// tracking gives up, after a last look that found the request open.
	cfg := tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, MaxAge: time.Millisecond, LastLookGrace: -1,
		TempDir: t.TempDir(), ReplayKey: pipetest.ReplayKey,
		Logger: zerolog.New(io.MultiWriter(g.logs, zerolog.NewTestWriter(t))).Level(zerolog.WarnLevel)}
	tr, err := tracking.New(cfg, tracking.Deps{Resources: res, Upstream: up, Events: events, Publisher: js, History: h.history})
	if err != nil {
		t.Fatal(err)
	}
	g.tr = tr
	h.mu.Lock()
	h.current = tr
	h.mu.Unlock()
	reqID := h.openTrackedRequest(tr, raceID)
	pipetest.WaitFor(t, 10*time.Second, "the upstream request to be fulfilled", func() bool {
		r, err := h.Client.Richiesta(context.Background(), reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	return g
}

// callback posts the upstream's callback of emp-race; its answer comes on
// answered. When the test ends, the downloads and events held are
// released and the callback waited for.
func (g *giveUpRace) callback(releases ...func()) {
	secret := g.callbacks.Secret(pipetest.Tenant, raceID)
	g.wg.Go(func() { g.answered <- g.postCallback(raceID, secret) })
	g.T.Cleanup(g.wg.Wait)
	for _, open := range releases {
		g.T.Cleanup(open)
	}
}

// downloading starts emp-race's callback, whose refresh is held in its
// final document's download until the returned holder opens (at the
// test's end at the latest), and waits until it is held there. ev wraps
// the tracker's events (nil: none).
func downloading(t *testing.T, ev func(tracking.Events) tracking.Events) (*giveUpRace, *heldDocument) {
	t.Helper()
	return downloadingWith(t, raceDeps{events: ev})
}

// downloadingWith is downloading with the tracker's dependencies wrapped
// as wrap says.
func downloadingWith(t *testing.T, wrap raceDeps) (*giveUpRace, *heldDocument) {
	t.Helper()
	up := &heldDocument{release: make(chan struct{})}
	g := newGiveUpRaceWith(t, up, wrap)
	up.Upstream = g.Client
	g.callback(up.open)
	pipetest.WaitFor(t, 5*time.Second, "the callback's refresh to download the final document", func() bool { return up.started.Load() == 1 })
	return g, up
}

// waitHeld waits until ch, a holder's held channel, is closed.
func waitHeld(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out after 10s waiting for %s", what)
	}
}

// waitGaveUp waits until the record failed with gave_up and, when
// announced, its failed event is out.
func (g *giveUpRace) waitGaveUp(announced bool) {
	g.T.Helper()
	pipetest.WaitFor(g.T, 10*time.Second, "tracking to give up", func() bool {
		r := g.Record(raceID)
		return r.State == record.StateFailed && r.Reason == dlq.ReasonGaveUp &&
			(!announced || g.typeCounts(raceID)["iseed.submission.failed"] == 1)
	})
}

// checkAnswered checks that the callback was answered 200.
func (g *giveUpRace) checkAnswered() {
	g.T.Helper()
	if code := <-g.answered; code != http.StatusOK {
		g.T.Errorf("callback: got %d, want 200", code)
	}
}

// statusTypes are the types of emp-race's events, short: "failed",
// "document.ready".
func (g *giveUpRace) statusTypes() []string {
	var out []string
	for _, typ := range g.EventTypes(raceID) {
		out = append(out, shortType(typ))
	}
	return out
}

func shortType(typ string) string {
	if typ == publisher.TypeDocumentReady {
		return "document.ready"
	}
	return typ[len("iseed.submission."):]
}

// A record closed for another reason than a give-up while a callback's
// refresh downloads the final document stays as it is, and nothing is
// announced: no document.ready, no completed.
func TestARecordClosedDuringTheDownloadIsNotAnnounced(t *testing.T) {
	tests := []struct {
		name   string
		close  func(*record.Record, time.Time)
		closed string
	}{
		{"cancelled", func(r *record.Record, now time.Time) { r.To(record.StateCancelled, now, "upstream: Annullata") }, record.StateCancelled},
		{"failed for another reason", func(r *record.Record, now time.Time) {
			r.To(record.StateFailed, now, dlq.ReasonUpstreamRejected)
			r.Reason = dlq.ReasonUpstreamRejected
		}, record.StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, up := downloading(t, nil)
			store := record.NewStore(g.Res.Records)
			ctx := context.Background()
			rec, rev, err := store.Get(ctx, pipetest.Tenant, raceID)
			if err != nil {
				t.Fatal(err)
			}
			next := rec.Clone()
			tt.close(next, time.Now())
			if rev, err = store.Update(ctx, next, rev); err != nil {
				t.Fatal(err)
			}
			up.open()
			g.checkAnswered()
			if got, _, _ := store.Get(ctx, pipetest.Tenant, raceID); got.State != tt.closed || got.Document != nil || got.StatoRichiesta == visengine.StateFulfilled {
				t.Errorf("record: state %s, document %v, stato %q; want %s as closed, without the document", got.State, got.Document != nil, got.StatoRichiesta, tt.closed)
			}
			if _, now, _ := store.Get(ctx, pipetest.Tenant, raceID); now != rev {
				t.Errorf("record revision: got %d, want %d (unchanged)", now, rev)
			}
			if got := g.statusTypes(); len(got) != 0 {
				t.Errorf("events: got %v, want none", got)
			}
		})
	}
}

// checkOverridden checks that emp-race's record is completed, with its
// final document, and that its timeline has the give-up and then the
// completion that overrides it.
func (g *giveUpRace) checkOverridden() {
	g.T.Helper()
	r := g.Record(raceID)
	if r.State != record.StateCompleted || r.Reason != "" || len(r.Errors) != 0 || r.Document == nil || r.Document.Stato != visengine.StateFulfilled {
		g.T.Fatalf("record: state %s, reason %q, errors %v, document %+v; want completed with the final document, no reason or errors",
			r.State, r.Reason, r.Errors, r.Document)
	}
	failed := slices.IndexFunc(r.Timeline, func(tr record.Transition) bool { return tr.State == record.StateFailed })
	last := r.Timeline[len(r.Timeline)-1]
	if failed < 0 || last.State != record.StateCompleted || !strings.Contains(last.Note, "overrides gave_up") {
		g.T.Errorf("timeline: got %+v, want failed, then completed noting that it overrides gave_up", r.Timeline)
	}
	pipetest.CheckDocuments(g.T, g.Events(raceID), r)
}
