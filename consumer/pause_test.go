package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestPausedTenantIsHeldWhileOthersGo: with its tenant paused, a batch is
// held as it is delivered (code tenant_paused, nothing sent) and another
// tenant's submission published after it is sent; caps set meanwhile keep
// the pause and release nothing (a release would be held again: one more
// message on the subject each time); resumed, the batch is sent once
// each, oldest first. The account's pause holds every tenant (code
// account_paused) until it is resumed.
func TestPausedTenantIsHeldWhileOthersGo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Pause(ctx, budget.Tenant(pipetest.Tenant)); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 1; c.HoldPoll = time.Hour }))
	pipetest.WaitFor(t, 10*time.Second, "the pipeline to see the pause", func() bool { return h.Pipeline.CapsApply(pipetest.Tenant) })
	const n = 5
	for i := range n {
		h.Publish(pipetest.Submission(fmt.Sprintf("p-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	other := func(id string) []byte { return pipetest.Submission(id, pipetest.ValidFields("Luigi Verdi")) }
	h.publishAs("globex", other("g-1"), msgIDOf("globex", other("g-1")))
	store := record.NewStore(h.Res.Records)
	waitOther := func(id, state string) *record.Record {
		t.Helper()
		var r *record.Record
		pipetest.WaitFor(t, 20*time.Second, "globex's "+id+" to be "+state, func() bool {
			r, _, _ = store.Get(ctx, "globex", id)
			return r != nil && r.State == state
		})
		return r
	}
	waitOther("g-1", record.StateSubmitted)
	for i := range n {
		r := h.WaitState(fmt.Sprintf("p-%d", i), record.StateHeld)
		if len(r.Errors) != 1 || r.Errors[0].Code != "tenant_paused" || r.Attempts != 0 {
			t.Errorf("p-%d: held with %+v after %d attempts; want code tenant_paused and nothing sent", i, r.Errors, r.Attempts)
		}
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests while paused: %d, want 1 (globex's)", got)
	}

	// Caps set on the paused tenant: the holds pass looks again, and
	// releases nothing.
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 100}); err != nil {
		t.Fatal(err)
	}
	h.publishAs("globex", other("g-2"), msgIDOf("globex", other("g-2")))
	waitOther("g-2", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if r := h.Record("p-0"); r.State != record.StateHeld {
		t.Fatalf("p-0 after caps were set on its paused tenant: %s, want held", r.State)
	}

	if err := b.Resume(ctx, budget.Tenant(pipetest.Tenant)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("p-%d", i))
	}
	h.waitSentInOrder("pause", ids...)
	if got := h.Counter("created"); got != n+2 {
		t.Errorf("upstream requests: %d, want %d", got, n+2)
	}
	if got := messages(t, h, pipetest.Tenant); got != 2*n {
		t.Errorf("messages on the paused tenant's subject: %d, want %d (each submission and its one release)", got, 2*n)
	}

	if err := b.Pause(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the pipeline to see the account's pause", func() bool { return h.Pipeline.CapsApply("globex") })
	h.publishAs("globex", other("g-3"), msgIDOf("globex", other("g-3")))
	if r := waitOther("g-3", record.StateHeld); len(r.Errors) != 1 || r.Errors[0].Code != "account_paused" {
		t.Errorf("g-3 with the account paused: %+v, want code account_paused", r.Errors)
	}
	if err := b.Resume(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}
	waitOther("g-3", record.StateSubmitted)
}

// listingDown is an upstream whose listing (GET /richiesta) fails: a POST
// whose answer was lost cannot be reconciled by the delivery that sent it.
type listingDown struct {
	*visengine.Client
	lists atomic.Int32
}

func (l *listingDown) Richieste(context.Context) ([]visengine.RichiestaSummary, error) {
	l.lists.Add(1)
	return nil, errors.New("listing unavailable")
}

// TestPausedTenantsAdoptedRequestCommitsItsReservation: a submission
// reserves and POSTs; the answer is lost, and its delivery stops before it
// can reconcile. The operator pauses the tenant (an incident upstream).
// The next delivery reconciles whatever the caps say, and adopts the
// request: the reservation it was sent under is committed with it, not
// left in flight for the rest of the month (Reserve, paused, returned
// none, and the adoption recorded none to commit). Another submission of
// the tenant, which reserved and stopped before its POST, is held all the
// same: a pause sends nothing new.
func TestPausedTenantsAdoptedRequestCommitsItsReservation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyRequests: 10})
	h.Sim.SetFaults(sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: sim.ModeBadGateway, Next: 1}})
	down := &listingDown{Client: h.Client}
	stop := h.Start(h.withMoney(b), pipetest.WithUpstream(down))
	h.Publish(pipetest.Submission("emp-lost", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 20*time.Second, "the POST sent and a reconciliation tried", func() bool {
		return h.Counter("created") == 1 && down.lists.Load() > 0
	})
	stop()
	if _, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-lost", time.Now()); err != nil || !held {
		t.Fatalf("the reservation the POST was sent under: held %v (%v), want held", held, err)
	}
	if _, err := b.Reserve(ctx, pipetest.Tenant, "emp-unsent", 1170, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Pause(ctx, budget.Tenant(pipetest.Tenant)); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b))
	h.Publish(pipetest.Submission("emp-unsent", pipetest.ValidFields("Luigi")), nil)
	r := h.WaitState("emp-lost", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "the adopted request's reservation committed", func() bool {
		_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-lost", time.Now())
		return err == nil && !held
	})
	if r.Charge == nil || r.Charge.Source != "reconciled" {
		t.Errorf("emp-lost's charge: %+v, want one reconciliation adopted", r.Charge)
	}
	if r := h.WaitState("emp-unsent", record.StateHeld); len(r.Errors) != 1 || r.Errors[0].Code != "tenant_paused" || r.Attempts != 0 {
		t.Errorf("emp-unsent: held with %+v after %d attempts; want code tenant_paused and nothing sent", r.Errors, r.Attempts)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: %d, want 1 (emp-lost's, adopted)", got)
	}
	_, month, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if month.Held != 1 || month.Requests != 2 {
		t.Errorf("the month: %d in flight, %d requests counted; want 1 (emp-unsent's, held), 2", month.Held, month.Requests)
	}
}
