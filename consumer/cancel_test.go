package consumer_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// cancelUnsent runs consumer.CancelUnsent on the harness's server.
func (h *harness) cancelUnsent(id string) consumer.CancelResult {
	h.T.Helper()
	res, err := consumer.CancelUnsent(context.Background(), h.NATS.JS, h.Res, pipetest.Tenant, id, time.Now())
	if err != nil {
		h.T.Fatalf("cancel %s: %v", id, err)
	}
	return res
}

// publishHeld publishes submission id and waits until a cap holds it and
// its message is acknowledged.
func (h *harness) publishHeld(id string) {
	h.T.Helper()
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	h.WaitState(id, record.StateHeld)
	pipetest.WaitFor(h.T, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
}

// waitCancelled waits until id's record is failed cancelled_by_operator,
// its dead letter stored and its failed event published, and checks that
// nothing was sent.
func (h *harness) waitCancelled(id string) *record.Record {
	h.T.Helper()
	r := h.WaitState(id, record.StateFailed)
	if r.Reason != dlq.ReasonCancelledByOperator || r.RequestID != "" || r.CancelRequested.IsZero() {
		h.T.Fatalf("%s: reason %q, request %q, cancel requested %s; want %s, none, set", id, r.Reason, r.RequestID, r.CancelRequested, dlq.ReasonCancelledByOperator)
	}
	h.WaitLastEvent(id, publisher.StatusType(publisher.StateFailed))
	ev := h.Events(id)
	var st publisher.Status
	if err := json.Unmarshal(ev[len(ev)-1].Data, &st); err != nil || st.Reason != dlq.ReasonCancelledByOperator {
		h.T.Errorf("%s: the failed event's data is %s (%v); want reason %s", id, ev[len(ev)-1].Data, err, dlq.ReasonCancelledByOperator)
	}
	var dls []dlq.DeadLetter
	pipetest.WaitFor(h.T, 10*time.Second, id+"'s dead letter", func() bool {
		dls = slices.DeleteFunc(h.DeadLetters(), func(d dlq.DeadLetter) bool { return d.SubmissionID != id })
		return len(dls) > 0
	})
	if len(dls) != 1 || dls[0].Reason != dlq.ReasonCancelledByOperator {
		h.T.Errorf("%s: dead letters %+v; want one, %s", id, dls, dlq.ReasonCancelledByOperator)
	}
	if got := h.Counter("created"); got != 0 {
		h.T.Errorf("upstream requests: got %d, want 0", got)
	}
	return r
}

// TestCancelHeldSubmission: a submission a spending cap holds back,
// cancelled by an operator, is failed cancelled_by_operator at once (not
// at the next cap period, nor at ISEED_MAX_AGE): its dead letter, its
// failed event, its hold key gone, nothing sent. Cancelled again, it says
// so. Its dead letter replayed (the cap raised), it is sent after all.
func TestCancelHeldSubmission(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.publishHeld("emp-c")

	if got := h.cancelUnsent("emp-c"); got.Outcome != consumer.CancelDone || got.State != record.StateHeld {
		t.Fatalf("cancel: %+v; want cancelled, from held", got)
	}
	h.waitCancelled("emp-c")
	pipetest.WaitFor(t, 10*time.Second, "emp-c's hold key removed", func() bool {
		keys, err := h.holdKeys()
		return err == nil && len(keys) == 0
	})
	if got := h.cancelUnsent("emp-c"); got.Outcome != consumer.CancelDone || got.State != record.StateFailed {
		t.Errorf("cancel again: %+v; want cancelled already", got)
	}

	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	dls := h.DeadLetters()
	if err := h.Queue().Replay(ctx, dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	r := h.WaitState("emp-c", record.StateSubmitted)
	if r.Generation != 2 || !r.CancelRequested.IsZero() || h.Counter("created") != 1 {
		t.Errorf("replayed: generation %d, cancel requested %s, upstream requests %d; want 2, cleared, 1", r.Generation, r.CancelRequested, h.Counter("created"))
	}
}

// TestCancelHeldGivesItsReservationBack: a held submission whose release's
// delivery reserved its price and stopped before its POST (the wallet
// empty) keeps the reservation for its next delivery; cancelled, it gives
// it back: nothing was, nor will be, spent.
func TestCancelHeldGivesItsReservationBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Sim.SetWallet(0)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.WalletProbe = time.Second // the pool pauses while the wallet is empty: a probe a second
	}))
	h.Publish(pipetest.Submission("emp-rsv", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-rsv", record.StateHeld)
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "emp-rsv reserved, held", func() bool {
		_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-rsv", time.Now())
		r := h.Record("emp-rsv")
		return err == nil && held && r.State == record.StateHeld && r.Pending == nil
	})
	if got := h.cancelUnsent("emp-rsv"); got.Outcome != consumer.CancelDone {
		t.Fatalf("cancel: %+v; want cancelled", got)
	}
	h.waitCancelled("emp-rsv")
	if res, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-rsv", time.Now()); err != nil || held {
		t.Errorf("reservation: got %+v held %v (%v), want given back", res, held, err)
	}
}

// TestCancelRefusesWhatMayBeSent: only a held or claimed submission with
// no POST in doubt is cancelled; one sent, one being sent (held or claimed,
// a POST of it may have gone) and an unknown one are said and left as
// they are.
func TestCancelRefusesWhatMayBeSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	h.Publish(pipetest.Submission("emp-sent", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-sent", record.StateSubmitted)
	h.PutRecord("emp-posting", pipetest.ValidFields("Anna"), func(r *record.Record) {
		r.State = record.StateHeld
		r.HeldSince = time.Now()
		r.Pending = &record.Attempt{Started: time.Now(), Owner: "another", Until: time.Now().Add(time.Hour)}
	})
	h.PutRecord("emp-claimed", pipetest.ValidFields("Anna"), func(r *record.Record) {
		r.Pending = &record.Attempt{Started: time.Now(), Owner: "another", Until: time.Now().Add(time.Hour)}
	})
	for _, c := range []struct{ id, outcome, state string }{
		{"emp-sent", consumer.CancelNotHeld, record.StateSubmitted},
		{"emp-posting", consumer.CancelBeingSent, record.StateHeld},
		{"emp-claimed", consumer.CancelBeingSent, record.StateClaimed},
		{"emp-nobody", consumer.CancelUnknown, ""},
	} {
		got := h.cancelUnsent(c.id)
		if got.Outcome != c.outcome || got.State != c.state || got.Why == "" {
			t.Errorf("cancel %s: %+v; want %s, state %q, and why", c.id, got, c.outcome, c.state)
		}
		if r := h.Record(c.id); r != nil && !r.CancelRequested.IsZero() {
			t.Errorf("%s: marked cancelled (%s); want it left as it was", c.id, r.CancelRequested)
		}
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want emp-sent's alone", got)
	}
}

// armedLimiter lets every Wait through until armed; then the next Wait
// says it entered and waits for the gate to open.
type armedLimiter struct {
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (l *armedLimiter) Wait(ctx context.Context) error {
	if !l.armed.Load() {
		return nil
	}
	l.once.Do(func() { close(l.entered) })
	select {
	case <-l.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestCancelStopsAReleaseWaitingForItsToken: a held submission's release
// is delivered and waits for an upstream token under a lease that says
// Unsent; an operator cancels it meanwhile. The token comes, and the
// delivery, whose compare-and-set of the record fails, sends nothing: the
// submission is failed cancelled_by_operator once the lease ends.
func TestCancelStopsAReleaseWaitingForItsToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	lim := &armedLimiter{entered: make(chan struct{}), gate: make(chan struct{})}
	defer func() {
		select {
		case <-lim.gate:
		default:
			close(lim.gate)
		}
	}()
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Budget, d.Ledger, d.Limiter = b, h.ledger(), lim }),
		pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.publishHeld("emp-w")

	lim.armed.Store(true)
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lim.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for emp-w's release to wait for its token")
	}
	if r := h.Record("emp-w"); r.State != record.StateHeld || r.Pending == nil || !r.Pending.Unsent {
		t.Fatalf("emp-w waiting for its token: %s, pending %+v; want held under an Unsent lease", r.State, r.Pending)
	}
	if got := h.cancelUnsent("emp-w"); got.Outcome != consumer.CancelDone {
		t.Fatalf("cancel: %+v; want cancelled", got)
	}
	close(lim.gate)
	h.waitCancelled("emp-w")
	if res, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-w", time.Now()); err != nil || held {
		t.Errorf("reservation: got %+v held %v (%v), want given back", res, held, err)
	}
}

// TestCancelHeldWhoseMessageIsGone: a held submission whose message left
// the submissions stream (deleted by an operator, aged out) cannot be sent
// again for a delivery to fail it; cancelled, the daemon's holds pass
// fails it cancelled_by_operator itself, long before ISEED_MAX_AGE: its
// failed event, its key removed, no dead letter (there is no message to
// put in it), nothing sent. It does so within seconds, without waiting for
// the pass's next tick (an hour here): the cancel marks its hold key, and
// the pass's watch of the holds bucket starts a pass. So it does behind an
// older hold of its tenant that the cap keeps where it is, which stays
// held: the pass goes through a tenant's holds oldest first and stopped at
// the first that must stay, and the cancelled one stayed held, cancelled,
// until the cap let the older one go (the next day, or month).
func TestCancelHeldWhoseMessageIsGone(t *testing.T) {
	for _, tt := range []struct {
		name  string
		older bool // an older hold of the tenant, which the cap keeps
	}{{"alone", false}, {"behind an older hold", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ctx := context.Background()
			b := h.budgetsCapped(oneEuroADay)
			h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
			if tt.older {
				h.publishHeld("emp-older")
			}
			h.publishHeld("emp-gone")
			info, err := h.Res.Submissions.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Res.Submissions.DeleteMsg(ctx, info.State.LastSeq); err != nil {
				t.Fatal(err)
			}
			if got := h.cancelUnsent("emp-gone"); got.Outcome != consumer.CancelDone || !strings.Contains(got.Why, "holds pass fails it within seconds") {
				t.Fatalf("cancel: %+v; want cancelled, by the holds pass within seconds", got)
			}
			r := h.WaitState("emp-gone", record.StateFailed)
			if r.Reason != dlq.ReasonCancelledByOperator || r.Attempts != 0 {
				t.Errorf("emp-gone: reason %q, attempts %d; want %s, 0", r.Reason, r.Attempts, dlq.ReasonCancelledByOperator)
			}
			h.WaitLastEvent("emp-gone", publisher.StatusType(publisher.StateFailed))
			pipetest.WaitFor(t, 10*time.Second, "the hold key removed, the older one's left", func() bool {
				keys, err := h.holdKeys()
				if !tt.older {
					return err == nil && len(keys) == 0
				}
				return err == nil && len(keys) == 1 && strings.HasSuffix(keys[0], ".emp-older")
			})
			if rec := h.Record("emp-older"); tt.older && (rec == nil || rec.State != record.StateHeld) {
				t.Errorf("emp-older: %+v, want still held", rec)
			}
			if dls := h.DeadLetters(); len(dls) != 0 || h.Counter("created") != 0 {
				t.Errorf("dead letters %+v, upstream requests %d; want none, 0", dls, h.Counter("created"))
			}
		})
	}
}

// TestCancelHeldTheStreamNoLongerTakes: a held submission larger than the
// submissions stream now takes (its size limit lowered while it was
// held) cannot be sent again for a delivery to fail it; cancelled, the
// holds pass fails it cancelled_by_operator (not malformed: the operator
// asked), with its dead letter, nothing sent.
func TestCancelHeldTheStreamNoLongerTakes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	fields := pipetest.ValidFields("Mario")
	fields["$6"] = "cf.pdf|data:application/pdf;base64," + strings.Repeat("QUFB", 10<<10)
	data := pipetest.Submission("emp-big", fields)
	h.Publish(data, nil)
	h.WaitState("emp-big", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	cfg := h.Res.Submissions.CachedInfo().Config
	cfg.MaxMsgSize = int32(len(data))
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := h.cancelUnsent("emp-big"); got.Outcome != consumer.CancelDone || !strings.Contains(got.Why, "refused") {
		t.Fatalf("cancel: %+v; want cancelled, its message refused, by the holds pass", got)
	}
	h.waitCancelled("emp-big")
}
