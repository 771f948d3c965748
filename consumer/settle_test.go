package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
)

// killedMidPost lets the first POST run to its (lease-bound) deadline and
// has the upstream commit the request a moment later, as if the worker had
// been killed mid-call; later POSTs pass through.
type killedMidPost struct {
	*visengine.Client
	calls    atomic.Int32
	late     time.Duration
	hang     chan struct{}
	lateDone atomic.Bool
}

func (u *killedMidPost) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	if u.calls.Add(1) > 1 {
		return u.Client.CreateRichiesta(ctx, req)
	}
	<-ctx.Done()
	go func() { // ends with the test: hang is closed at cleanup, the create is bounded by the client timeout
		time.Sleep(u.late)
		_, _ = u.Client.CreateRichiesta(context.Background(), req)
		u.lateDone.Store(true)
	}()
	<-u.hang
	return nil, ctx.Err()
}

// A takeover of a record that carries an old settle time must not reuse it
// for its own POST: when that POST dies unanswered, the next delivery waits
// for it to settle and finds the request.
func TestKilledPostAfterTakeOverStillSettles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-stale", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second), Settle: past.Add(2 * time.Second)}
	})
	up := &killedMidPost{Client: h.Client, late: 1500 * time.Millisecond, hang: make(chan struct{})}
	h.Start(pipetest.WithUpstream(up), pipetest.WithConfig(func(c *consumer.Config) {
		c.CallTimeout = time.Second
		c.ReconcileSettle = 3 * time.Second
	}))
	t.Cleanup(func() { close(up.hang) })
	h.Publish(pipetest.Submission("emp-stale", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-stale", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "the killed POST's request", up.lateDone.Load)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests for one submission: got %d, want 1 (POSTs %d)", got, up.calls.Load())
	}
}

// slowAnswer creates the first request at once but answers late.
type slowAnswer struct {
	*visengine.Client
	calls   atomic.Int32
	created chan string
	answer  chan struct{}
}

func (u *slowAnswer) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	r, err := u.Client.CreateRichiesta(ctx, req)
	if u.calls.Add(1) == 1 && err == nil {
		u.created <- r.ID
		select {
		case <-u.answer:
		case <-time.After(2 * time.Second):
		}
	}
	return r, err
}

// A reconciliation never adopts a request created after its own attempt
// settled: that is another submission's, just sent and not yet indexed.
func TestReconcileIgnoresRequestsCreatedAfterTheAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	past := time.Now().Add(-10 * time.Minute)
	h.PutRecord("emp-old", fields, func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}
	})
	up := &slowAnswer{Client: h.Client, created: make(chan string, 1), answer: make(chan struct{})}
	h.Start(pipetest.WithUpstream(up))
	h.Publish(pipetest.Submission("emp-new", fields), nil)
	first := <-up.created
	h.Publish(pipetest.Submission("emp-old", fields), nil)
	old := h.WaitState("emp-old", record.StateSubmitted)
	close(up.answer)
	nw := h.WaitState("emp-new", record.StateSubmitted)
	if old.RequestID == first || nw.RequestID != first {
		t.Errorf("emp-old got %s, emp-new got %s; want emp-new to keep the request it created (%s)", old.RequestID, nw.RequestID, first)
	}
}

// downSchemas cannot resolve any service.
type downSchemas struct{}

func (downSchemas) Service(context.Context, string) (*schema.Service, error) {
	return nil, context.DeadlineExceeded
}

// A submission that grows too old while its schema cannot be resolved, with
// an attempt that may have created its request, fails as ambiguous: record,
// dead letter and event agree.
func TestExpiredWhileUnresolvableFailsTheRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-exp", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}
	})
	h.Start(pipetest.WithSchemas(downSchemas{}), pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Millisecond }))
	h.Publish(pipetest.Submission("emp-exp", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "a dead letter", func() bool { return len(h.DeadLetters()) > 0 })
	dl, rec := h.DeadLetters()[0], h.Record("emp-exp")
	if rec.State != record.StateFailed || rec.Reason != dlq.ReasonAmbiguous || dl.Reason != dlq.ReasonAmbiguous {
		t.Errorf("record %s/%s, dead letter %s: want failed, ambiguous, ambiguous", rec.State, rec.Reason, dl.Reason)
	}
	pipetest.WaitFor(t, 5*time.Second, "the failed event", func() bool {
		evs := h.Events("emp-exp")
		return len(evs) == 1 && evs[0].Type == "iseed.submission.failed"
	})
}
