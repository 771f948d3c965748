package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// heldLetter is a JetStream handle that holds the first dead letter
// published on subject until released: before it is stored. With fail,
// the publish then fails once the letter is stored, as a give-up that
// stopped right after storing it would.
type heldLetter struct {
	jetstream.JetStream
	subject string
	fail    bool
	held    chan struct{} // closed when holding
	release chan struct{}
	once    sync.Once
	opened  sync.Once
}

func newHeldLetter(subject string, fail bool) *heldLetter {
	return &heldLetter{subject: subject, fail: fail, held: make(chan struct{}), release: make(chan struct{})}
}

// open releases the letter held, or the one to come.
func (j *heldLetter) open() { j.opened.Do(func() { close(j.release) }) }

func (j *heldLetter) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	hold := false
	if m.Subject == j.subject {
		j.once.Do(func() { hold = true })
	}
	if !hold {
		return j.JetStream.PublishMsg(ctx, m, opts...)
	}
	close(j.held)
	select {
	case <-j.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ack, err := j.JetStream.PublishMsg(ctx, m, opts...)
	if err == nil && j.fail {
		return nil, errors.New("stopped once the dead letter was stored")
	}
	return ack, err
}

// failingRemoval is a DLQ stream whose first removal of a message fails.
type failingRemoval struct {
	jetstream.Stream
	failed atomic.Bool
}

func (s *failingRemoval) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("the stream did not answer")
	}
	return s.Stream.SecureDeleteMsg(ctx, seq)
}

// lettersOf returns the dead letters on submission id's DLQ subject, as
// "<reason> <generation>".
func (g *giveUpRace) lettersOf(id string) []string {
	g.T.Helper()
	var out []string
	for _, dl := range g.DeadLetters() {
		if dl.Tenant == pipetest.Tenant && dl.SubmissionID == id {
			out = append(out, fmt.Sprintf("%s %d", dl.Reason, dl.Generation))
		}
	}
	return out
}

// A give-up that the upstream's completion overrides leaves no dead letter
// behind, whichever came first: the letter stored just after the override
// wrote the record (the give-up reads the record again and withdraws it),
// the give-up stopping right after storing it (its task comes back to the
// completed record and withdraws it), the letter stored before the
// override (the override withdraws it), or the override's withdrawal
// failing (answered 503, the upstream's retry of the callback withdraws
// it). The letter used to stay: the dead-letter alert fired for a
// completed submission, its replay was refused (nothing to reopen), and an
// operator had to purge it.
func TestAGiveUpOverriddenLeavesNoDeadLetter(t *testing.T) {
	tests := []struct {
		name string
		hold bool // the give-up's letter is held until the override is written
		fail bool // the give-up stops once its letter is stored
		dlq  bool // the override's first removal of a letter fails
	}{
		{name: "stored just after the override", hold: true},
		{name: "the give-up stopped once it was stored", hold: true, fail: true},
		{name: "stored before the override"},
		{name: "the override's withdrawal failed", dlq: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var letter *heldLetter
			var wrap raceDeps
			if tt.hold {
				wrap.js = func(js jetstream.JetStream) jetstream.JetStream {
					letter.JetStream = js
					return letter
				}
			}
			if tt.dlq {
				wrap.dlq = func(s jetstream.Stream) jetstream.Stream { return &failingRemoval{Stream: s} }
			}
			// The subject is known once the harness is: the holder
			// learns it before the tracker first publishes.
			letter = newHeldLetter("", tt.fail)
			g, up := downloadingWith(t, wrap)
			letter.subject = g.Res.Layout.DLQSubject(pipetest.Tenant, raceID)
			t.Cleanup(letter.open)
			g.runTracker(g.tr)
			if tt.hold {
				g.waitGaveUp(false)
				waitHeld(t, letter.held, "the give-up's dead letter")
			} else {
				g.waitGaveUp(true) // its letter is stored before its failed event
				if got := g.lettersOf(raceID); !slices.Equal(got, []string{"gave_up 1"}) {
					t.Fatalf("dead letters before the override: got %v, want [gave_up 1]", got)
				}
			}
			up.open()
			want := http.StatusOK
			if tt.dlq {
				want = http.StatusServiceUnavailable
			}
			if code := <-g.answered; code != want {
				t.Errorf("callback: got %d, want %d", code, want)
			}
			if tt.dlq {
				// The upstream retries; a fresh endpoint (a restarted
				// replica's) lets it through at once.
				g.serveCallbacks(0)
				if code := g.postCallback(raceID, g.callbacks.Secret(pipetest.Tenant, raceID)); code != http.StatusOK {
					t.Fatalf("the callback's retry: got %d, want 200", code)
				}
			}
			letter.open()
			pipetest.WaitFor(t, 10*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
			g.checkOverridden()
			if got := g.lettersOf(raceID); len(got) != 0 {
				t.Errorf("dead letters of the completed submission: got %v, want none", got)
			}
		})
	}
}

// Withdrawing the letter of an overridden give-up leaves every other
// letter: the submission's of another generation or another reason, and
// another submission's gave_up letter.
func TestWithdrawingAnOverriddenGiveUpLeavesOtherLetters(t *testing.T) {
	g, up := downloading(t, nil)
	g.runTracker(g.tr)
	g.waitGaveUp(true)
	ctx := context.Background()
	l := g.Res.Layout
	for _, o := range []struct {
		id, reason string
		gen        int
	}{{raceID, dlq.ReasonGaveUp, 2}, {raceID, dlq.ReasonAmbiguous, 1}, {"emp-other", dlq.ReasonGaveUp, 1}, {raceID + "-2", dlq.ReasonGaveUp, 1}} {
		dl := dlq.DeadLetter{OriginalSubject: l.TrackSubject(pipetest.Tenant, o.id), StreamSeq: 1, Tenant: pipetest.Tenant,
			SubmissionID: o.id, Reason: o.reason, Generation: o.gen}
		if err := dlq.Publish(ctx, g.NATS.JS, l, dl, []byte(`{}`), dlq.MsgID(pipetest.Tenant, o.id, o.gen, o.reason)); err != nil {
			t.Fatal(err)
		}
	}
	up.open()
	g.checkAnswered()
	g.checkOverridden()
	var got []string
	for _, dl := range g.DeadLetters() {
		got = append(got, fmt.Sprintf("%s %s %d", dl.SubmissionID, dl.Reason, dl.Generation))
	}
	want := []string{"emp-race gave_up 2", "emp-race ambiguous 1", "emp-other gave_up 1", "emp-race-2 gave_up 1"}
	if !slices.Equal(got, want) {
		t.Errorf("dead letters: got %v, want %v (the override's own withdrawn, the others kept)", got, want)
	}
}

// noFinalDocument is an upstream whose documents cannot be downloaded: a
// refresh never stores the final document, and a give-up stands.
type noFinalDocument struct{ tracking.Upstream }

func (u *noFinalDocument) Documento(context.Context, string, io.Writer) (*visengine.Document, error) {
	return nil, errors.New("the document cannot be downloaded")
}

// A gave_up letter stays while its give-up stands: the give-up reads the
// record again once its letter is stored, and callbacks re-read a request
// whose final document cannot be stored, and neither withdraws it.
func TestAGaveUpLetterStaysWhileTheGiveUpStands(t *testing.T) {
	letter := newHeldLetter("", false)
	up := &noFinalDocument{}
	g := newGiveUpRaceWith(t, up, raceDeps{js: func(js jetstream.JetStream) jetstream.JetStream {
		letter.JetStream = js
		return letter
	}})
	up.Upstream = g.Client
	letter.subject = g.Res.Layout.DLQSubject(pipetest.Tenant, raceID)
	t.Cleanup(letter.open)
	g.runTracker(g.tr)
	g.waitGaveUp(false)
	waitHeld(t, letter.held, "the give-up's dead letter")
	g.callback() // while the letter is on its way
	if code := <-g.answered; code != http.StatusServiceUnavailable {
		t.Errorf("callback: got %d, want 503 (the final document cannot be stored)", code)
	}
	letter.open()
	pipetest.WaitFor(t, 10*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	g.serveCallbacks(0) // and once it is stored
	if code := g.postCallback(raceID, g.callbacks.Secret(pipetest.Tenant, raceID)); code != http.StatusServiceUnavailable {
		t.Errorf("callback after the give-up: got %d, want 503", code)
	}
	if r := g.Record(raceID); r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp {
		t.Errorf("record: got %s (%s), want failed (gave_up)", r.State, r.Reason)
	}
	if got := g.lettersOf(raceID); !slices.Equal(got, []string{"gave_up 1"}) {
		t.Errorf("dead letters: got %v, want [gave_up 1]: the give-up stands", got)
	}
}

// An override that published completed and stopped before its record
// write leaves the record failed (gave_up), and so the give-up's dead
// letter, which is still what the record says. Without the upstream's
// retry of the callback (the give-up's task is acked: no poll comes back),
// replaying that letter repairs it: tracking reopens, finds the request
// fulfilled, and the record ends completed with its final document, as the
// events say, the letter gone.
func TestAnOverrideStoppedBeforeItsRecordWriteIsRepairedByAReplay(t *testing.T) {
	var ev *failAfterOverride
	g, up := downloading(t, func(e tracking.Events) tracking.Events {
		ev = &failAfterOverride{Events: e}
		return ev
	})
	stop := g.runTracker(g.tr)
	g.waitGaveUp(true)
	up.open()
	if code := <-g.answered; code != http.StatusServiceUnavailable {
		t.Fatalf("callback whose override stopped: got %d, want 503", code)
	}
	pipetest.WaitFor(t, 5*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	var seq uint64
	for _, dl := range g.DeadLetters() {
		if dl.SubmissionID == raceID && dl.Reason == dlq.ReasonGaveUp {
			seq = dl.Seq
		}
	}
	if r := g.Record(raceID); seq == 0 || r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp {
		t.Fatalf("after the override stopped: record %s (%s), gave_up letter %d; want failed (gave_up) and its letter", r.State, r.Reason, seq)
	}
	// Another replica, whose maximum age is not a millisecond, takes the
	// replay.
	stop()
	g.runTracker(g.newTracker(nil))
	if err := g.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	var r *record.Record
	pipetest.WaitExplained(t, 10*time.Second, "the replay to complete the record, its task acknowledged", func() bool {
		r = g.Record(raceID)
		return r.State == record.StateCompleted && r.Document != nil && r.Document.Stato == visengine.StateFulfilled && g.openTasks() == 0
	}, func() string { return g.trackingState(r) })
	pipetest.CheckDocuments(t, g.Events(raceID), r)
	if types := g.statusTypes(); len(types) == 0 || types[len(types)-1] != "completed" {
		t.Errorf("events: got %v, want the last completed", types)
	}
	if got := g.lettersOf(raceID); len(got) != 0 {
		t.Errorf("dead letters: got %v, want none", got)
	}
}
