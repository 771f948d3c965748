package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
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
