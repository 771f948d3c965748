package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/prometheus/client_golang/prometheus"
)

// checkingLimiter grants every Wait after noting whether the record of
// the submission it waits for says Unsent meanwhile, as a worker killed
// during the wait would leave it.
type checkingLimiter struct {
	h      *harness
	id     string
	waits  atomic.Int32
	unsent atomic.Int32 // Waits during which the record's lease said Unsent
}

func (l *checkingLimiter) Wait(context.Context) error {
	l.waits.Add(1)
	if r := l.h.Record(l.id); r != nil && r.Pending != nil && r.Pending.Unsent {
		l.unsent.Add(1)
	}
	return nil
}

// checkingUpstream notes whether the record still says Unsent when its
// POST goes.
type checkingUpstream struct {
	*visengine.Client
	h      *harness
	id     string
	unsent atomic.Int32 // POSTs sent while the record's lease said Unsent
}

func (u *checkingUpstream) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	if r := u.h.Record(u.id); r == nil || r.Pending == nil || r.Pending.Unsent {
		u.unsent.Add(1)
	}
	return u.Client.CreateRichiesta(ctx, req)
}

// TestLeaseSaysUnsentUntilTheToken: with an upstream budget that can keep
// a POST waiting, the claim's lease says Unsent while its worker waits for
// the token, and the lease the POST goes under does not. A lease without
// the mark made a worker killed during the wait (up to ISEED_WORKERS per
// replica, all of them while a backlog waits for the budget) look like an
// unanswered POST.
func TestLeaseSaysUnsentUntilTheToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lim := &checkingLimiter{h: h, id: "emp-token"}
	up := &checkingUpstream{Client: h.Client, h: h, id: "emp-token"}
	h.Start(pipetest.WithUpstream(up), pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }))
	h.Publish(pipetest.Submission("emp-token", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-token", record.StateSubmitted)
	if lim.waits.Load() == 0 || lim.unsent.Load() != lim.waits.Load() {
		t.Errorf("token waits: %d, with the lease saying Unsent: %d; want every wait under an Unsent lease", lim.waits.Load(), lim.unsent.Load())
	}
	if got := up.unsent.Load(); got != 0 {
		t.Errorf("POSTs sent while the lease said Unsent (or without a lease): %d, want 0", got)
	}
	if r.Attempts != 1 || h.Counter("created") != 1 {
		t.Errorf("attempts %d, upstream requests %d; want 1 and 1", r.Attempts, h.Counter("created"))
	}
}

// TestUnsentLeaseOfAKilledWorkerIsTakenOverAtOnce: a worker killed while
// it waited for an upstream token left its lease saying Unsent. The next
// delivery, once the lease ends, sends the submission without
// reconciling: no POST can exist. Taken for an unanswered POST, it waited
// ISEED_RECONCILE_SETTLE (an hour here) and, with a request of the same
// person made outside iseed meanwhile, would have been dead-lettered
// ambiguous without ever being sent.
func TestUnsentLeaseOfAKilledWorkerIsTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-killed", fields, func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Attempts = 1 // the claim counts the POST it prepares
		r.Pending = &record.Attempt{Started: past, Owner: "killed/1", Until: past.Add(time.Second), Unsent: true}
	})
	requestOutsideIseed(t, h, fields)
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.ReconcileSettle = time.Hour }))
	h.Publish(pipetest.Submission("emp-killed", fields), nil)
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission sent", func() bool {
		r = h.Record("emp-killed")
		return r.State == record.StateSubmitted || r.State == record.StateFailed
	})
	if r.State != record.StateSubmitted || r.Attempts != 1 {
		t.Errorf("record: state %s (reason %q), attempts %d; want submitted, 1 attempt (the killed worker's count was its)", r.State, r.Reason, r.Attempts)
	}
	if got := h.Counter("GET /richiesta"); got != 0 {
		t.Errorf("reconciliation reads: got %d, want 0: nothing was sent under an Unsent lease", got)
	}
}

// TestUnsentLeaseOfAKilledWorkerCountsNoAttemptWhenRejected: a submission
// whose worker was killed waiting for its token, rejected by the next
// delivery (its service's schema changed meanwhile), was never sent: its
// record counts no attempt, as the killed worker's count was for a POST
// that never went.
func TestUnsentLeaseOfAKilledWorkerCountsNoAttemptWhenRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	fields["Codice Fiscale"] = "not a tax code"
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-rejected", fields, func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "killed/1", Until: past.Add(time.Second), Unsent: true}
	})
	h.Start()
	h.Publish(pipetest.Submission("emp-rejected", fields), nil)
	r := h.WaitState("emp-rejected", record.StateRejected)
	if r.Attempts != 0 || r.Pending != nil {
		t.Errorf("rejected record: attempts %d, pending %+v; want none: nothing was ever sent", r.Attempts, r.Pending)
	}
}

// TestUnsentLeaseCountsNothingWhenMaxDeliveriesFail: a submission whose
// messages ran out of deliveries while its record held a lease saying
// Unsent (its worker waiting for a token, then lost) was never sent: the
// failed record and its dead letter count no attempt, and a replay of the
// letter counts only its own POST. The failure kept the lease and its
// count: the letter said one attempt, and the replay's POST made two.
func TestUnsentLeaseCountsNothingWhenMaxDeliveriesFail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(2)
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	h.PutRecord("emp-maxdel", fields, func(r *record.Record) {
		r.Created, r.Updated = now, now
		r.Attempts = 1 // the claim counts the POST it prepares
		r.Pending = &record.Attempt{Started: now, Owner: "lost/1", Until: now.Add(time.Hour), Unsent: true}
	})
	h.Start()
	h.Publish(pipetest.Submission("emp-maxdel", fields), nil)
	pipetest.WaitFor(t, 30*time.Second, "the advisory handled", h.advisoriesSettled)
	r := h.WaitState("emp-maxdel", record.StateFailed)
	dls := h.DeadLetters()
	if r.Attempts != 0 || len(dls) != 1 || dls[0].Attempts != 0 {
		t.Fatalf("record: attempts %d, pending %+v; dead letters %+v; want no attempt: nothing was sent", r.Attempts, r.Pending, dls)
	}
	if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	r = h.WaitState("emp-maxdel", record.StateSubmitted)
	if r.Attempts != 1 || h.Counter("created") != 1 {
		t.Errorf("replayed: attempts %d, upstream requests %d; want 1 and 1", r.Attempts, h.Counter("created"))
	}
}

// gateLimiter holds its first Wait until release is closed and grants
// every later one at once, counting the Waits and the grants.
type gateLimiter struct {
	release chan struct{}
	waits   atomic.Int32
	granted atomic.Int32
}

func (l *gateLimiter) Wait(ctx context.Context) error {
	if l.waits.Add(1) == 1 {
		select {
		case <-l.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.granted.Add(1)
	return nil
}

// tokenHeld starts a pipeline whose first upstream token is held back
// (a gateLimiter, its metrics in reg), publishes a valid submission id,
// and returns once the worker that claimed it waits for that token.
func tokenHeld(t *testing.T, id string) (h *harness, lim *gateLimiter, reg *prometheus.Registry, data []byte) {
	t.Helper()
	h = newHarness(t)
	lim = &gateLimiter{release: make(chan struct{})}
	reg = prometheus.NewRegistry()
	h.Start(pipetest.WithMetrics(consumer.NewMetrics(reg)), pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }))
	data = pipetest.Submission(id, pipetest.ValidFields("Mario"))
	h.Publish(data, nil)
	pipetest.WaitFor(t, 10*time.Second, "the first token wait", func() bool { return lim.waits.Load() == 1 })
	return h, lim, reg, data
}

// TestLeaseOutlastsALongTokenWait: a worker waits for its token longer
// than its lease (a backlog behind the budget) while another delivery of
// the submission comes (a held one's release, a duplicate). The lease is
// renewed during the wait, so the other delivery finds it live and leaves
// the submission to it (a copy: acknowledged): one token, one POST. It used to find the lease ended and take the
// submission over with a token of its own, the first worker's then spent
// for nothing (and, for a held submission sent again and again, again).
func TestLeaseOutlastsALongTokenWait(t *testing.T) {
	t.Parallel()
	const id = "emp-long-wait"
	h, lim, reg, data := tokenHeld(t, id)
	r := h.Record(id)
	if r == nil || r.Pending == nil {
		t.Fatalf("record during the wait: %+v, want a lease", r)
	}
	end := r.Pending.Until
	pipetest.WaitFor(t, 10*time.Second, "the first lease's end", func() bool { return time.Now().After(end.Add(300 * time.Millisecond)) })
	h.Publish(data, nil) // the same submission again
	pipetest.WaitFor(t, 10*time.Second, "the second delivery handled", func() bool {
		return lim.waits.Load() > 1 || outcomes(t, reg, "busy") > 0 || outcomes(t, reg, "duplicate") > 0
	})
	close(lim.release)
	got := h.WaitState(id, record.StateSubmitted)
	if n := lim.granted.Load(); n != 1 {
		t.Errorf("upstream tokens granted: %d, want 1 (one POST)", n)
	}
	if h.Counter("POST /richiesta") != 1 || h.Counter("created") != 1 || got.Attempts != 1 {
		t.Errorf("POSTs %d, requests %d, attempts %d; want 1, 1, 1", h.Counter("POST /richiesta"), h.Counter("created"), got.Attempts)
	}
}

// outcomes reads iseed_submission_outcomes_total for one outcome, all
// reasons together.
func outcomes(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "iseed_submission_outcomes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// TestLeaseTakenDuringATokenWaitEndsTheWait: while a worker waits for its
// token, another delivery takes the submission over (its lease had ended:
// written here by hand). The renewal's compare-and-set fails, and the
// worker stops waiting at once, sending nothing, instead of holding a
// worker and, once granted, a token for a submission that is not its own.
func TestLeaseTakenDuringATokenWaitEndsTheWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lim := &gateLimiter{release: make(chan struct{})}
	t.Cleanup(func() { close(lim.release) })
	ended := make(chan struct{})
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = endingLimiter{lim, ended} }))
	const id = "emp-taken"
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the first token wait", func() bool { return lim.waits.Load() == 1 })
	store := record.NewStore(h.Res.Records)
	r, rev, err := store.Get(context.Background(), pipetest.Tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	other := *r
	other.Pending = &record.Attempt{Started: time.Now(), Owner: "another/1", Until: time.Now().Add(time.Hour), Unsent: true}
	if _, err := store.Update(context.Background(), &other, rev); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker still waits for a token for a submission another delivery took over")
	}
	if got := h.Record(id); got.Pending == nil || got.Pending.Owner != "another/1" || h.Counter("POST /richiesta") != 0 {
		t.Errorf("record lease %+v, POSTs %d; want the other delivery's lease kept, nothing sent", got.Pending, h.Counter("POST /richiesta"))
	}
}

// endingLimiter is l, closing ended when its first Wait returns.
type endingLimiter struct {
	*gateLimiter
	ended chan struct{}
}

func (l endingLimiter) Wait(ctx context.Context) error {
	first := l.waits.Load() == 0
	err := l.gateLimiter.Wait(ctx)
	if first {
		close(l.ended)
	}
	return err
}
