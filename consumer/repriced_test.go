package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestRepricedReservationCountsTheNewPrice: an earlier delivery reserved a
// submission at the price of its day (€11.70) and stopped before its POST
// (the wallet empty, a crash); the price is €16 when it is sent. The cap
// counts what iseed sends it for, €16: counted at the old price, it let
// the tenant's next €16 request through a daily cap of €31.99, €32 spent.
func TestRepricedReservationCountsTheNewPrice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	const price money.Cents = 1600 // the simulator's ISEE with urgency
	b := h.budgetsCapped(budget.Caps{DailyEUR: 2*price - 1})
	if _, err := b.Reserve(ctx, pipetest.Tenant, "emp-repriced", 1170, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("emp-repriced", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-repriced", record.StateSubmitted)
	h.Publish(pipetest.Submission("emp-next", pipetest.ValidFields("Luigi")), nil)
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "emp-next to be held or sent", func() bool {
		r = h.Record("emp-next")
		return r != nil && (r.State == record.StateHeld || r.State == record.StateSubmitted)
	})
	if got := h.Counter("created"); got != 1 || r.State != record.StateHeld {
		t.Errorf("upstream requests: got %d, emp-next %s; want 1, emp-next held: €%s spent against a daily cap of €%s",
			got, r.State, money.Cents(got)*price, 2*price-1)
	}
	var day budget.Usage
	pipetest.WaitFor(t, 20*time.Second, "emp-repriced's reservation to be committed", func() bool {
		var err error
		day, _, err = b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return err == nil && day.Held == 0
	})
	if day.Spent != price || day.Requests != 1 {
		t.Errorf("the day's usage: %s, %d requests; want %s, 1 (the request at the price it was sent for)",
			day.Spent, day.Requests, price)
	}
}

// TestRepricedReservationAfterReconciliation: the same after a POST whose
// answer was lost: reconciliation proves it created nothing, and the POST
// sent again is counted at the price it is sent for, not at the lower one
// its reservation was made at.
func TestRepricedReservationAfterReconciliation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	const price money.Cents = 1600 // the simulator's ISEE with urgency
	b := h.budgetsCapped(budget.Caps{DailyEUR: 10 * price})
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-lost", pipetest.ValidFields("Luigi"), func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Service, r.ServiceHash = "ISEE", sim.HashISEE
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)} // nothing was created
	})
	if _, err := b.Reserve(ctx, pipetest.Tenant, "emp-lost", 1170, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("emp-lost", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-lost", record.StateSubmitted)
	var day budget.Usage
	pipetest.WaitFor(t, 20*time.Second, "emp-lost's reservation to be committed", func() bool {
		var err error
		day, _, err = b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return err == nil && day.Held == 0
	})
	if got := h.Counter("GET /richiesta"); got < 1 {
		t.Errorf("GET /richiesta: got %d, want the reconciliation to have read the upstream first", got)
	}
	if day.Spent != price || day.Requests != 1 {
		t.Errorf("the day's usage: %s, %d requests; want %s, 1 (the request at the price it was sent for)", day.Spent, day.Requests, price)
	}
}

// repricing is a schema source whose services cost one euro more once
// raised is set: the upstream raised its prices and the cache read them.
type repricing struct {
	consumer.Schemas
	raised atomic.Bool
}

func (r *repricing) Service(ctx context.Context, nameOrHash string) (*schema.Service, error) {
	s, err := r.Schemas.Service(ctx, nameOrHash)
	if err != nil || !r.raised.Load() {
		return s, err
	}
	c := *s
	c.Price++
	return &c, nil
}

// askedCaps are caps that count the holds pass's questions (Allows).
type askedCaps struct {
	*budget.Budgets
	asked atomic.Int32
}

func (a *askedCaps) Allows(ctx context.Context, tenant string, amount money.Cents, now time.Time) error {
	a.asked.Add(1)
	return a.Budgets.Allows(ctx, tenant, amount, now)
}

// TestHeldSubmissionWhosePriceRoseWaitsForRoom: a submission held by a
// daily euro cap; its service's price rises by a euro; the cap is raised
// to fit the old price, not the new one. The holds pass releases it once
// (its record's price is the old one), and its delivery, refused the new
// price, holds it again at that price: from then on the pass asks the caps
// for the new price and keeps it held, with no new message in the stream
// and no new held transition, until a cap makes room for it. It noted the
// price of its first delivery and kept it: released at every pass and held
// again, each time a message in the tenant's stream and a held transition.
func TestHeldSubmissionWhosePriceRoseWaitsForRoom(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := &askedCaps{Budgets: h.budgetsCapped(oneEuroADay)}
	src := &repricing{Schemas: h.Schemas()}
	h.Start(h.withMoney(b), pipetest.WithSchemas(src), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 50 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-dear", pipetest.ValidFields("Mario")), nil)
	old := priceOf(t, h.WaitState("emp-dear", record.StateHeld))
	src.raised.Store(true)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: old + 50}); err != nil {
		t.Fatal(err)
	}
	heldTimes := func(r *record.Record) int {
		n := 0
		for _, tr := range r.Timeline {
			if tr.State == record.StateHeld {
				n++
			}
		}
		return n
	}
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "emp-dear released and held again", func() bool {
		r = h.Record("emp-dear")
		return r.State == record.StateHeld && heldTimes(r) >= 2
	})
	asked := b.asked.Load()
	pipetest.WaitFor(t, 20*time.Second, "five more holds passes", func() bool { return b.asked.Load() >= asked+5 })
	r = h.Record("emp-dear")
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := heldTimes(r); got != 2 || priceOf(t, r) != old+100 || info.State.Msgs != 2 {
		t.Errorf("held %d times, at %s, %d messages in the submissions stream; want 2, at %s (the new price), 2 (published, released once)",
			got, priceOf(t, r), info.State.Msgs, old+100)
	}
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: old + 100}); err != nil {
		t.Fatal(err)
	}
	h.WaitState("emp-dear", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// priceOf is the price a record notes.
func priceOf(t *testing.T, r *record.Record) money.Cents {
	t.Helper()
	if r.Price == nil {
		t.Fatalf("%s: no price", r.ID)
	}
	c, err := money.FromFloat(*r.Price)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
