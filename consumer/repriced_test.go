package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
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
