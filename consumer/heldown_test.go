package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
)

// TestHeldSubmissionWithItsReservationIsReleased: a held submission's
// release was delivered, reserved its room and stopped before its POST
// (the wallet empty, transient trouble: the record stays held, its lease
// given up, the reservation kept for the next delivery), and no delivery
// of it is coming (the release left the stream; here, made by hand while
// the daemon is stopped). The hold loop asked the caps for room once more, which its
// own reservation filled: it was never sent again, and stayed held until
// its period ended or it expired, its room reserved all that time. It is
// sent with its reservation, counted once.
func TestHeldSubmissionWithItsReservationIsReleased(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyRequests: 1})
	stop := h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-first", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-first", record.StateSubmitted)
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-held", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	stop()

	// The cap raised by one, which the release's delivery reserved.
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 2}); err != nil {
		t.Fatal(err)
	}
	price, _ := money.FromFloat(16) // ISEE 12 + urgency 4
	if _, err := b.Reserve(ctx, pipetest.Tenant, "emp-held", price, time.Now()); err != nil {
		t.Fatal(err)
	}

	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	var r *record.Record
	pipetest.WaitExplained(t, 10*time.Second, "emp-held sent with its reservation", func() bool {
		r = h.Record("emp-held")
		return r.State == record.StateSubmitted
	}, func() string {
		_, m, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return fmt.Sprintf("emp-held is %s (%+v); usage %+v, %v", r.State, r.Errors, m, err)
	})
	pipetest.WaitFor(t, 10*time.Second, "the reservation committed", func() bool {
		_, m, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return err == nil && m.Held == 0
	})
	if _, m, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now()); err != nil || m.Requests != 2 {
		t.Errorf("counted: got %d requests (%v), want 2, the cap", m.Requests, err)
	}
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2", got)
	}
}
